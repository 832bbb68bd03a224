//! Loss curves from a `--log` CSV as a self-contained SVG.
//! Two panels, the loss against characters seen and against training time,
//! each with the training loss and, when logged, the validation loss. The
//! SVG is written by hand (a few lines and text labels; no font files are
//! needed to draw it).

use std::fmt::Write as _;

/// The header `rnn-fast train --log` writes.
pub const CSV_HEADER: &str = "elapsed_s,epoch,chars_seen,train_loss,val_loss";

/// The comment on the second line of every drawing `render` makes: how
/// `plot` tells its own drawings (which it replaces) from other SVG files
/// (which it keeps unless told).
pub const SVG_MARK: &str = "<!-- drawn by rnn-fast plot -->";

/// One row of the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    pub elapsed_s: f64,
    pub epoch: f64,
    pub chars_seen: f64,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
}

/// Parses a log; the error says which line is wrong. A last line cut short
/// ([`cut_short`]) is left out.
pub fn parse(text: &str) -> std::result::Result<Vec<Row>, String> {
    let mut lines = without_cut_short(text).0.lines();
    if lines.next().map(str::trim) != Some(CSV_HEADER) {
        return Err(format!(
            "not a training log: the first line must be {CSV_HEADER:?} (write one with rnn-fast train --log FILE.csv)"
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        rows.push(row(line).ok_or_else(|| format!("line {}: {}", i + 2, not_a_row(line)))?);
    }
    if rows.is_empty() {
        return Err("the log has no rows yet".into());
    }
    Ok(rows)
}

/// The number of the log's last line (from 1) when it is cut short: it
/// lacks its line break and is not a whole row, as a run leaves it when it
/// stops while writing it (a full disk; or the row being written as the
/// log is read).
pub fn cut_short(text: &str) -> Option<usize> {
    let (whole, cut) = without_cut_short(text);
    cut.map(|_| whole.lines().count() + 1)
}

/// `text` up to a last line cut short (see [`cut_short`]), and that line.
/// Only the last line is read: a log's lines are counted only when one is
/// cut.
fn without_cut_short(text: &str) -> (&str, Option<&str>) {
    match text.rfind('\n') {
        Some(end) if end + 1 < text.len() && row(&text[end + 1..]).is_none() => {
            (&text[..=end], Some(&text[end + 1..]))
        }
        _ => (text, None),
    }
}

/// One row of the log, if `line` is one: five comma-separated finite
/// numbers (spaces around them allowed, as a spreadsheet may write them),
/// the last (the validation loss) possibly empty.
fn row(line: &str) -> Option<Row> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 5 {
        return None;
    }
    let num = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    Some(Row {
        elapsed_s: num(f[0])?,
        epoch: num(f[1])?,
        chars_seen: num(f[2])?,
        train_loss: num(f[3])?,
        val_loss: if f[4].is_empty() {
            None
        } else {
            Some(num(f[4])?)
        },
    })
}

/// Why `line` is not a row (see [`row`]): the count of its fields, or the
/// column that is not a finite number; the line quoted to its first
/// [`QUOTED`] characters (a line of a file that is not a log can be long).
fn not_a_row(line: &str) -> String {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let why = if fields.len() != 5 {
        format!(
            "expected 5 comma-separated numbers, got {}",
            crate::message::counted(fields.len(), "field")
        )
    } else {
        let bad = fields
            .iter()
            .zip(CSV_HEADER.split(','))
            .enumerate()
            .find(|&(i, (f, _))| {
                let number = f.parse::<f64>().is_ok_and(f64::is_finite);
                // The validation loss may be left empty.
                !(number || i == 4 && f.is_empty())
            });
        match bad {
            Some((_, (field, column))) => {
                format!("{column} is not a finite number ({:?})", quoted(field))
            }
            None => "not a row".to_string(),
        }
    };
    format!("{why}, in {:?}", quoted(line))
}

/// Characters of a line quoted in an error, at most.
const QUOTED: usize = 80;

/// `s` to its first [`QUOTED`] characters, with "…" where it was cut.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

/// A panel: its title, its x-axis label and the row's x value.
type Panel = (&'static str, &'static str, fn(&Row) -> f64);

/// Panel size and margins, in SVG units.
const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const GAP: f64 = 90.0;
const TRAIN_COLOUR: &str = "#1f77b4";
const VAL_COLOUR: &str = "#ff7f0e";

/// The two-panel SVG of `rows` (at least one).
pub fn render(rows: &[Row]) -> String {
    let losses = rows
        .iter()
        .flat_map(|r| std::iter::once(r.train_loss).chain(r.val_loss));
    let (lo, hi) = losses.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let y_ticks = nice_ticks(lo, hi);
    let width = LEFT + 2.0 * PANEL_W + GAP + 30.0;
    let height = TOP + PANEL_H + 70.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n{SVG_MARK}\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let has_val = rows.iter().any(|r| r.val_loss.is_some());
    let panels: [Panel; 2] = [
        ("loss against characters seen", "characters trained", |r| {
            r.chars_seen
        }),
        ("loss against training time", "seconds of training", |r| {
            r.elapsed_s
        }),
    ];
    for (p, panel) in panels.into_iter().enumerate() {
        draw_panel(&mut svg, p, panel, rows, &y_ticks);
    }
    draw_legend(&mut svg, has_val);
    svg.push_str("</svg>\n");
    svg
}

/// Panel `p` (0: left) of the figure, with the y ticks shared by both.
fn draw_panel(
    svg: &mut String,
    p: usize,
    (title, x_label, x_of): Panel,
    rows: &[Row],
    y_ticks: &[f64],
) {
    let x0 = LEFT + p as f64 * (PANEL_W + GAP);
    let xs: Vec<f64> = rows.iter().map(x_of).collect();
    let (x_lo, x_hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let x_ticks = nice_ticks(x_lo.min(0.0), x_hi);
    let sx = scale(
        x_ticks[0],
        *x_ticks.last().expect("ticks"),
        x0,
        x0 + PANEL_W,
    );
    let sy = scale(
        y_ticks[0],
        *y_ticks.last().expect("ticks"),
        TOP + PANEL_H,
        TOP,
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{title}</text>",
        x0 + PANEL_W / 2.0,
        TOP - 15.0
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{x0}\" y=\"{TOP}\" width=\"{PANEL_W}\" height=\"{PANEL_H}\" fill=\"none\" stroke=\"#888\"/>"
    );
    for &t in y_ticks {
        let y = sy(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 + PANEL_W,
            x0 - 6.0,
            y + 4.0,
            label(t)
        );
    }
    for &t in &x_ticks {
        let x = sx(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + PANEL_H,
            TOP + PANEL_H + 16.0,
            label(t)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">nats per character</text>",
        x0 + PANEL_W / 2.0,
        TOP + PANEL_H + 36.0,
        x0 - 42.0,
        TOP + PANEL_H / 2.0,
        x0 - 42.0,
        TOP + PANEL_H / 2.0
    );
    let train: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (sx(x_of(r)), sy(r.train_loss)))
        .collect();
    polyline(svg, &train, TRAIN_COLOUR);
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (sx(x_of(r)), sy(v))))
        .collect();
    polyline(svg, &val, VAL_COLOUR);
}

/// The legend under the panels.
fn draw_legend(svg: &mut String, has_val: bool) {
    let legend_y = TOP + PANEL_H + 58.0;
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{legend_y}\" x2=\"{}\" y2=\"{legend_y}\" stroke=\"{TRAIN_COLOUR}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">train loss</text>",
        LEFT + 24.0,
        LEFT + 30.0,
        legend_y + 4.0
    );
    if has_val {
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{legend_y}\" x2=\"{}\" y2=\"{legend_y}\" stroke=\"{VAL_COLOUR}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">validation loss</text>",
            LEFT + 130.0,
            LEFT + 154.0,
            LEFT + 160.0,
            legend_y + 4.0
        );
    }
}

/// Maps `[a, b]` onto `[p, q]` (in halves, so that no difference of finite
/// values overflows).
fn scale(a: f64, b: f64, p: f64, q: f64) -> impl Fn(f64) -> f64 {
    let span = if b > a { b / 2.0 - a / 2.0 } else { 1.0 };
    move |x| p + (x / 2.0 - a / 2.0) / span * (q - p)
}

/// A curve through `points`; a single point (a one-row log) as a dot,
/// which a one-point line would not show.
fn polyline(svg: &mut String, points: &[(f64, f64)], colour: &str) {
    if let [(x, y)] = points {
        let _ = writeln!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>"
        );
        return;
    }
    if points.is_empty() {
        return;
    }
    let coords: Vec<String> = thinned(points)
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
        coords.join(" ")
    );
}

/// The points of a curve that a drawing shows: of each run of consecutive
/// points in one pixel column (x in `[c, c + 1)`), the first, the lowest,
/// the highest and the last, in their order. The line drawn through them
/// has the shape of the line through all of them at the drawing's
/// resolution (one unit a pixel): within the column it spans the run's
/// lowest to highest y, and it enters and leaves where the run does (the
/// joins of the stroke may differ by a fraction of a pixel). So a log of a
/// million reports draws at most four points a column (a few thousand a
/// curve) instead of a drawing of tens of megabytes.
fn thinned(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut kept = Vec::new();
    for run in points.chunk_by(|a, b| a.0.floor() == b.0.floor()) {
        let by_y = |&a: &usize, &b: &usize| run[a].1.total_cmp(&run[b].1);
        let low = (0..run.len()).min_by(by_y).expect("a run has a point");
        let high = (0..run.len()).max_by(by_y).expect("a run has a point");
        let mut picks = vec![0, low, high, run.len() - 1];
        picks.sort_unstable();
        picks.dedup();
        kept.extend(picks.into_iter().map(|i| run[i]));
    }
    kept
}

/// About five round tick values covering `[lo, hi]` (steps of 1, 2 or 5 ×
/// 10^k), for any finite `lo ≤ hi`. A range too narrow for a fifth of it to
/// be a normal float (flat, or a few ulps wide) is widened by half a unit
/// or 5% of its value (a half is lost in the rounding of a loss of 1e17); a
/// span too wide for a float (the widest finite values) is taken in
/// fifths; ticks beyond the largest finite value are held at it.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let fifth = |lo: f64, hi: f64| {
        let span = hi - lo;
        if span.is_finite() {
            span / 5.0
        } else {
            hi / 5.0 - lo / 5.0
        }
    };
    let (lo, hi) = if fifth(lo, hi) >= f64::MIN_POSITIVE {
        (lo, hi)
    } else {
        let pad = (lo.abs() * 0.05).max(0.5);
        ((lo - pad).max(-f64::MAX), (lo + pad).min(f64::MAX))
    };
    let raw = fifth(lo, hi);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor();
    let count = (hi / step - first).ceil() as usize;
    (0..=count)
        .map(|i| ((first + i as f64) * step).clamp(-f64::MAX, f64::MAX))
        .collect()
}

/// A tick label: 1.5G, 1.5M, 200k, 12, 1.75; from 10^12 in powers of ten
/// (2.5e30).
fn label(x: f64) -> String {
    let a = x.abs();
    if a >= 1e12 {
        let s = format!("{x:.2e}");
        let (mantissa, exponent) = s.split_once('e').expect("an exponent");
        format!("{}e{exponent}", trim_zeros(mantissa))
    } else if a >= 1e9 {
        format!("{}G", trim(x / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(x / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(x / 1e3))
    } else {
        trim(x)
    }
}

fn trim(x: f64) -> String {
    trim_zeros(&format!("{x:.2}"))
}

/// A decimal without its trailing zeros (and point): 1.50 → 1.5, 2.00 → 2.
fn trim_zeros(s: &str) -> String {
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = nice_ticks(1.73, 4.2);
        assert!(t[0] <= 1.73 && *t.last().unwrap() >= 4.2, "{t:?}");
        assert_eq!(label(1_500_000.0), "1.5M");
        assert_eq!(label(200_000.0), "200k");
        assert_eq!(label(1.75), "1.75");
        assert_eq!(label(2.5e30), "2.5e30");
        assert_eq!(label(-1e12), "-1e12");
        assert_eq!(label(1.5e9), "1.5G");
        // An ordinary range keeps its steps (not cut finer by the fifths).
        let t = nice_ticks(0.570712, 1.070712);
        assert_eq!(t.len(), 5, "{t:?}");
        assert!(
            (t[1] - t[0] - 0.2).abs() < 1e-12 && (t[0] - 0.4).abs() < 1e-12,
            "{t:?}"
        );
    }

    /// A one-row log (`train --epochs 1`) draws a dot per series, which a
    /// one-point line would not show; the drawing carries its mark.
    #[test]
    fn a_single_report_is_drawn_as_dots() {
        let rows = parse(&format!("{CSV_HEADER}\n1.5,1.0000,1000,2.5,2.6\n")).unwrap();
        let svg = render(&rows);
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 0, "{svg}");
        assert_eq!(svg.lines().nth(1), Some(SVG_MARK));
    }

    /// A diverged run's log (losses of 1e17 to 1e308, flat or spread) draws
    /// finite coordinates and a handful of ticks.
    #[test]
    fn huge_and_flat_losses_draw_finite_figures() {
        for (a, b) in [
            (1e17, 1e17),
            (7.4e30, 7.4e30),
            (2.0, 7.4e30),
            (-f64::MAX, f64::MAX),
            (f64::MAX, f64::MAX),
            (0.0, 1e-300),
            (1e30, 1.0000000000000002e30),
            (7.4e30, 7.400000000000001e30),
            (0.0, 5e-324),
            (-3.0, -3.0),
        ] {
            let t = nice_ticks(a, b);
            assert!(t.len() >= 2 && t.len() <= 12, "{a} {b}: {t:?}");
            assert!(t[0] <= a && *t.last().unwrap() >= b, "{a} {b}: {t:?}");
            assert!(t.iter().all(|x| x.is_finite()), "{a} {b}: {t:?}");
            let rows = parse(&format!("{CSV_HEADER}\n1,0.5,100,{a},\n2,1,200,{b},{b}\n")).unwrap();
            let svg = render(&rows);
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "{a} {b}: {svg}"
            );
        }
    }

    /// A long log draws at most four points a pixel column of a curve:
    /// the first and last of each column and its lowest and highest, so
    /// the line keeps every spike; a short one draws every point.
    #[test]
    fn long_logs_draw_a_few_points_a_column() {
        let n = 1_000_000;
        let loss = |i: usize| match i {
            500_000 => 9.0,
            700_001 => 0.5,
            _ => 2.0 + (i % 7) as f64 / 10.0,
        };
        let text: String = (0..n)
            .map(|i| format!("{i},1,{i},{},\n", loss(i)))
            .collect();
        let rows = parse(&format!("{CSV_HEADER}\n{text}")).unwrap();
        let svg = render(&rows);
        assert!(svg.len() < 200_000, "{} bytes", svg.len());

        let points: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64 * PANEL_W / n as f64, loss(i)))
            .collect();
        let kept = thinned(&points);
        assert!(kept.len() <= 4 * (PANEL_W as usize + 1), "{}", kept.len());
        for column in kept.chunk_by(|a, b| a.0.floor() == b.0.floor()) {
            assert!(column.len() <= 4, "{column:?}");
        }
        assert_eq!(kept[0], points[0]);
        assert_eq!(kept.last(), points.last());
        assert!(kept.contains(&points[500_000]) && kept.contains(&points[700_001]));
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "in order");

        // A curve of one point a column is drawn point for point; in a
        // column, what lies between its extremes is left out.
        let few = [(1.0, 5.0), (2.2, 1.0), (3.4, 7.0), (4.6, 3.0)];
        assert_eq!(thinned(&few), few);
        let one = [
            (1.0, 5.0),
            (1.2, 1.0),
            (1.3, 4.0),
            (1.4, 7.0),
            (1.5, 6.0),
            (1.6, 3.0),
        ];
        assert_eq!(thinned(&one), [one[0], one[1], one[3], one[5]]);
    }

    #[test]
    fn bad_logs_are_rejected_with_the_line() {
        assert!(parse("a,b\n").unwrap_err().contains("not a training log"));
        let e = parse(&format!("{CSV_HEADER}\n1,2,3\n")).unwrap_err();
        assert_eq!(
            e,
            "line 2: expected 5 comma-separated numbers, got 3 fields, in \"1,2,3\""
        );
        // The column that is not a number is named; a long line is cut.
        let e = parse(&format!("{CSV_HEADER}\n0.1,1,100,2.5,\n0.2,2,200,NaN,\n")).unwrap_err();
        assert_eq!(
            e,
            "line 3: train_loss is not a finite number (\"NaN\"), in \"0.2,2,200,NaN,\""
        );
        // Spaces around the numbers are read past (a spreadsheet may write
        // them); a non-number with spaces is quoted without them.
        let spaced = parse(&format!(
            "{CSV_HEADER}\n 0.1, 1, 100, 2.5, \n0.2 ,2,200,2.4,2.3\n"
        ));
        let spaced = spaced.unwrap();
        assert_eq!((spaced[0].epoch, spaced[0].val_loss), (1.0, None));
        assert_eq!(spaced[1].val_loss, Some(2.3));
        let e = parse(&format!("{CSV_HEADER}\n0.1, x ,100,2.5,\n")).unwrap_err();
        assert!(
            e.starts_with("line 2: epoch is not a finite number (\"x\")"),
            "{e}"
        );
        let e = parse(&format!("{CSV_HEADER}\n1e400,1,100,2.5,2.4\n")).unwrap_err();
        assert!(
            e.starts_with("line 2: elapsed_s is not a finite number (\"1e400\")"),
            "{e}"
        );
        let e = parse(&format!(
            "{CSV_HEADER}\n{}\n0.1,1,100,2.5,\n",
            "1".repeat(100_000)
        ))
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "line 2: expected 5 comma-separated numbers, got 1 field, in \"{}…\"",
                "1".repeat(80)
            )
        );
        assert!(
            parse(&format!("{CSV_HEADER}\n"))
                .unwrap_err()
                .contains("no rows")
        );
        let rows = parse(&format!("{CSV_HEADER}\n1,0.5,100,2.5,\n2,1,200,2.0,2.1\n")).unwrap();
        assert_eq!(rows[0].val_loss, None);
        assert_eq!(rows[1].val_loss, Some(2.1));
    }

    #[test]
    fn a_last_line_cut_short_is_left_out() {
        let whole = format!("{CSV_HEADER}\n1,0.5,100,2.5,\n2,1,200,2.0,2.1\n");
        assert_eq!(cut_short(&whole), None);
        // A full disk stopped the third row's write; the rows before draw.
        let cut = format!("{whole}0.072,0.7");
        assert_eq!(cut_short(&cut), Some(4));
        assert_eq!(parse(&cut).unwrap(), parse(&whole).unwrap());
        // A whole last row without its line break is a row.
        let edited = format!("{whole}3,1.5,300,1.9,");
        assert_eq!(cut_short(&edited), None);
        assert_eq!(parse(&edited).unwrap().len(), 3);
        // A bad line that is not the last, or ends in a line break, is an
        // error as before.
        let e = parse(&format!("{whole}0.072,0.7\n")).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        let e = parse(&format!("{CSV_HEADER}\n1,2\n2,1,200,2.0,\n3")).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        // A cut-short header or a lone cut row is still no log to draw.
        assert!(parse(&CSV_HEADER[..9]).is_err());
        assert!(
            parse(&format!("{CSV_HEADER}\n1,0.5"))
                .unwrap_err()
                .contains("no rows")
        );
    }
}
