//! How messages are written: one line each, and counts with their noun.

/// `n` and `noun`, plural unless `n` is 1: "1 thread", "2 threads".
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` with its line breaks written out as `\n` and `\r`, so that a
/// message that names a path holding one (`$'no\nsuch.txt'`) is still one
/// line on standard error.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        text.replace('\n', "\\n").replace('\r', "\\r").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_their_noun() {
        assert_eq!(counted(1, "thread"), "1 thread");
        assert_eq!(counted(0, "shard"), "0 shards");
        assert_eq!(counted(2, "epoch"), "2 epochs");
    }

    #[test]
    fn messages_stay_one_line() {
        assert_eq!(one_line("cannot read a.txt"), "cannot read a.txt");
        assert_eq!(
            one_line("cannot read no\nsuch\r.txt"),
            "cannot read no\\nsuch\\r.txt"
        );
    }
}
