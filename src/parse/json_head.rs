//! The head of a call written as JSON: `{"name": "NAME", "arguments": `
//! up to the `{` of the arguments object. Families that write their calls
//! this way (Hermes, Llama 3, Mistral's array form) read it to start a call
//! as soon as its name is known and then stream its arguments.
//!
//! Only this key order streams (name first, then `arguments` or
//! `parameters` holding an object); any other shape is [`Head::Whole`] and
//! the family reads the call once it is complete, as before.

use super::layout::Head;
use super::scanner::floor_boundary;

/// How far into a call's text its head is looked for: a longer head is
/// read whole (the same answer however the text was cut, and no
/// rescanning of a long head on every piece).
pub(crate) const MAX_HEAD: usize = 4096;

/// The first [`MAX_HEAD`] bytes of `text` (cut on a char boundary), and
/// whether `text` reaches that far.
pub(crate) fn head_window(text: &str) -> (&str, bool) {
    let cut = floor_boundary(text, MAX_HEAD);
    (&text[..cut], text.len() >= MAX_HEAD)
}

/// [`call_object_head`] over [`head_window`]: a head still waiting when no
/// more text comes (`last`) or at the window's end is [`Head::Whole`].
pub(crate) fn capped_call_object_head(text: &str, last: bool) -> Head {
    let (window, capped) = head_window(text);
    match call_object_head(window) {
        Head::Wait if last || capped => Head::Whole,
        head => head,
    }
}

/// Reads `{"name": "NAME", "arguments": {` (or `"parameters"`) at the start
/// of `text`, whitespace allowed between tokens. The name must be a
/// non-empty string.
pub(crate) fn call_object_head(text: &str) -> Head {
    match read(text) {
        Read::Done(name, at) => Head::Args { name, at },
        Read::More => Head::Wait,
        Read::Other => Head::Whole,
    }
}

/// What reading a head gave.
enum Read {
    /// The name and the offset of the arguments' `{`.
    Done(String, usize),
    /// The text ended before the head did.
    More,
    /// Not this shape.
    Other,
}

/// A small cursor over the head's text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

/// One token read: `Err(true)` when the text ended before it did,
/// `Err(false)` when it is not the expected token.
type Token<T> = Result<T, bool>;

impl Cursor<'_> {
    fn ws(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    /// Skips whitespace, then reads the byte `c`.
    fn punct(&mut self, c: u8) -> Token<()> {
        self.ws();
        match self.text.as_bytes().get(self.at) {
            None => Err(true),
            Some(&b) if b == c => {
                self.at += 1;
                Ok(())
            }
            Some(_) => Err(false),
        }
    }

    /// Skips whitespace, then reads a JSON string and decodes it.
    fn string(&mut self) -> Token<String> {
        self.ws();
        let bytes = self.text.as_bytes();
        match bytes.get(self.at) {
            None => return Err(true),
            Some(b'"') => {}
            Some(_) => return Err(false),
        }
        let start = self.at;
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at = i + 1;
                    return serde_json::from_str(&self.text[start..=i]).map_err(|_| false);
                }
                _ => i += 1,
            }
        }
        Err(true)
    }
}

fn read(text: &str) -> Read {
    let mut c = Cursor { text, at: 0 };
    let mut head = || -> Token<(String, usize)> {
        c.punct(b'{')?;
        if c.string()? != "name" {
            return Err(false);
        }
        c.punct(b':')?;
        let name = c.string()?;
        if name.is_empty() {
            return Err(false);
        }
        c.punct(b',')?;
        let key = c.string()?;
        if key != "arguments" && key != "parameters" {
            return Err(false);
        }
        c.punct(b':')?;
        c.ws();
        match text.as_bytes().get(c.at) {
            None => Err(true),
            Some(b'{') => Ok((name, c.at)),
            Some(_) => Err(false),
        }
    };
    match head() {
        Ok((name, at)) => Read::Done(name, at),
        Err(true) => Read::More,
        Err(false) => Read::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_head_or_says_why_not() {
        let t = "{\"name\": \"get_weather\", \"arguments\": {\"city\": 1}}";
        assert_eq!(
            call_object_head(t),
            Head::Args {
                name: "get_weather".into(),
                at: t.find("{\"city").unwrap()
            }
        );
        let t = " \n{ \"name\" :\"f\\u00e9\" ,\n\"parameters\":\t{}";
        assert_eq!(
            call_object_head(t),
            Head::Args {
                name: "fé".into(),
                at: t.len() - 2
            }
        );
        // Every proper prefix waits.
        let t = "{\"name\": \"f\", \"arguments\": {";
        for i in 0..t.len() {
            assert_eq!(call_object_head(&t[..i]), Head::Wait, "{:?}", &t[..i]);
        }
        for other in [
            "{\"arguments\": {}, \"name\": \"f\"}",
            "{\"name\": \"\", \"arguments\": {}}",
            "{\"name\": \"f\", \"arguments\": \"{}\"}",
            "{\"name\": 3, \"arguments\": {}}",
            "[{\"name\": \"f\"}]",
            "{\"name\": \"f\"}",
            "{\"name\": \"f\\x\", \"arguments\": {}}",
        ] {
            assert_eq!(call_object_head(other), Head::Whole, "{other}");
        }
    }
}
