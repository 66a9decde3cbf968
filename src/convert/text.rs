//! The two body conversions and the encoding of a generated text part.
//!
//! HTML → text is html2text's (see the module docs of [`super`] for why that crate); text →
//! HTML is escaping into a minimal document, ours. A generated part is UTF-8 and goes out as
//! 7bit when it is plain ASCII, 8bit when it is not, and quoted-printable only when a line
//! would be longer than RFC 5322's 998 octets (a long URL, an HTML document on one line) or
//! it holds a NUL or a lone CR, which 8bit does not allow.

/// Width text from HTML is wrapped to: what a mail reader shows in a plain-text view.
const WRAP: usize = 78;
/// RFC 5322 section 2.1.1: at most 998 octets per line, excluding the CR LF.
const MAX_LINE: usize = 998;
/// Quoted-printable lines, excluding the soft line break's `=` (RFC 2045 section 6.7).
const QP_LINE: usize = 75;

/// Readable plain text of an HTML body: no markup, links kept as numbered footnotes with
/// their URLs, paragraphs wrapped.
pub fn html_to_text(html: &str) -> String {
    let rendered = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WRAP);
    match rendered {
        Ok(text) => text,
        Err(e) => {
            // html2text refuses only pathological layouts (a table too wide for any width);
            // the reader still gets the words.
            tracing::debug!("html2text failed, stripping tags instead: {e}");
            strip_tags(html)
        }
    }
}

/// The crude fallback: text outside `<...>`, entities for `&`, `<` and `>` undone.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// A minimal HTML document showing `text` as it is: escaped, in a `<pre>` that wraps long
/// lines, so the sender's line breaks, indentation and quoting survive.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 200);
    out.push_str("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n</head>\n<body>\n");
    out.push_str("<pre style=\"white-space: pre-wrap; font-family: inherit\">");
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push_str("</pre>\n</body>\n</html>\n");
    out
}

/// A generated text part's Content-Transfer-Encoding and encoded body, with `eol` line
/// ends and a final line end.
pub fn encode(text: &str, eol: &[u8]) -> (&'static str, Vec<u8>) {
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let fits = lines
        .iter()
        .all(|l| l.len() <= MAX_LINE && !l.bytes().any(|b| b == 0 || b == b'\r'));
    let mut out = Vec::with_capacity(text.len() + lines.len() * 2);
    if fits {
        for line in &lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(eol);
        }
        let cte = if text.is_ascii() { "7bit" } else { "8bit" };
        return (cte, out);
    }
    for line in &lines {
        quoted_printable_line(line.as_bytes(), eol, &mut out);
    }
    ("quoted-printable", out)
}

/// One line of text as quoted-printable lines (soft breaks where needed), ending in `eol`.
fn quoted_printable_line(line: &[u8], eol: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut col = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        // White space before a line end would be lost in transport: encode it.
        let literal = (b'!'..=b'~').contains(&b) && b != b'=' || (b == b' ' || b == b'\t') && !last;
        let width = if literal { 1 } else { 3 };
        if col + width > QP_LINE {
            out.extend_from_slice(b"=");
            out.extend_from_slice(eol);
            col = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        col += width;
    }
    out.extend_from_slice(eol);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text_with_links() {
        let text = html_to_text(
            "<html><body><h1>Hello</h1><p>Read <a href=\"https://example.com/x?a=1&amp;b=2\">\
             the <b>docs</b></a> &amp; reply.</p><script>evil()</script></body></html>",
        );
        assert!(text.contains("Hello"), "{text}");
        assert!(text.contains("the docs"), "{text}");
        assert!(text.contains("https://example.com/x?a=1&b=2"), "{text}");
        assert!(text.contains("& reply"), "{text}");
        assert!(!text.contains('<') && !text.contains("evil"), "{text}");
    }

    #[test]
    fn deeply_nested_html_does_not_overflow_the_stack() {
        let html = "<div>".repeat(20_000) + "deep" + &"</div>".repeat(20_000);
        // Store-pool threads have the default 2 MiB stack; check with no more than that.
        let text = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || html_to_text(&html))
            .unwrap()
            .join()
            .unwrap();
        assert!(text.contains("deep"));
    }

    #[test]
    fn text_becomes_escaped_html() {
        let html = text_to_html("a < b & \"c\" > d\n  indented\n");
        assert!(html.contains("a &lt; b &amp; &quot;c&quot; &gt; d\n  indented"));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn encodings() {
        assert_eq!(
            encode("abc\ndef\n", b"\r\n"),
            ("7bit", b"abc\r\ndef\r\n".to_vec())
        );
        assert_eq!(
            encode("café", b"\n"),
            ("8bit", "café\n".as_bytes().to_vec())
        );
        let long = "x".repeat(2000) + " é";
        let (cte, body) = encode(&long, b"\n");
        assert_eq!(cte, "quoted-printable");
        assert!(body.split(|&b| b == b'\n').all(|l| l.len() <= 76));
        let decoded = mail_parser::decoders::quoted_printable::quoted_printable_decode(&body)
            .expect("valid quoted-printable");
        assert_eq!(String::from_utf8(decoded).unwrap().trim_end(), long);
    }
}
