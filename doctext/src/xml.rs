//! Small helpers over `quick-xml`'s borrowing slice reader.
//!
//! Entity handling: only the five predefined entities and numeric character references
//! are resolved. Custom entities declared in a DTD are never expanded (quick-xml does not
//! do it and we do not ask it to), so "billion laughs" and external-entity files yield
//! their literal text and nothing else.

use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::Format;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// Decodes an XML part to text: UTF-8 (the OOXML norm) or UTF-16 with a BOM; malformed
/// sequences become U+FFFD rather than failing the whole document.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let (text, _, _) = encoding_rs::UTF_8.decode(bytes);
    text
}

/// A reader over a whole XML part, with the time/cancel budget checked every few
/// thousand events.
pub(crate) struct XmlReader<'a> {
    inner: Reader<&'a [u8]>,
    format: Format,
    events: u32,
}

impl<'a> XmlReader<'a> {
    pub(crate) fn new(text: &'a str, format: Format) -> Self {
        let mut inner = Reader::from_str(text);
        let cfg = inner.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        Self { inner, format, events: 0 }
    }

    /// The next event; `Event::Eof` at the end.
    pub(crate) fn next(&mut self, ctx: &Ctx) -> Result<Event<'a>> {
        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(4096) {
            ctx.check()?;
        }
        self.inner.read_event().map_err(|e| {
            Error::malformed(self.format, format!("XML error at byte {}: {e}", self.inner.buffer_position()))
        })
    }

    /// Byte offset in the text of the next unread byte.
    pub(crate) fn position(&self) -> usize {
        usize::try_from(self.inner.buffer_position()).unwrap_or(usize::MAX)
    }

    /// Skips everything up to the end of the element whose `Start` was just read.
    pub(crate) fn skip(&mut self, start: &BytesStart<'_>) -> Result<()> {
        self.inner
            .read_to_end(start.name())
            .map(|_| ())
            .map_err(|e| Error::malformed(self.format, format!("XML error: {e}")))
    }
}

/// A source of XML events: a whole part in memory ([`XmlReader`]) or a part streamed
/// from its zip entry ([`XmlStream`], bounded memory). The walkers are generic over it.
pub(crate) trait XmlSource {
    /// The next event; `Event::Eof` at the end.
    fn event(&mut self, ctx: &Ctx) -> Result<Event<'_>>;
    /// Skips everything up to the end of the element named `name` whose `Start` was just read.
    fn skip_name(&mut self, name: &str) -> Result<()>;
}

impl XmlSource for XmlReader<'_> {
    fn event(&mut self, ctx: &Ctx) -> Result<Event<'_>> {
        self.next(ctx)
    }

    fn skip_name(&mut self, name: &str) -> Result<()> {
        self.inner
            .read_to_end(quick_xml::name::QName(name))
            .map(|_| ())
            .map_err(|e| Error::malformed(self.format, format!("XML error: {e}")))
    }
}

/// A part parsed as it is read (from a zip entry through its limits): memory stays at
/// one buffer of the largest event, whatever the part's size.
pub(crate) struct XmlStream<R: std::io::BufRead> {
    inner: Reader<R>,
    buf: Vec<u8>,
    skip_buf: Vec<u8>,
    format: Format,
    events: u32,
}

impl<R: std::io::BufRead> XmlStream<R> {
    pub(crate) fn new(source: R, format: Format) -> Self {
        let mut inner = Reader::from_reader(source);
        let cfg = inner.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        Self { inner, buf: Vec::new(), skip_buf: Vec::new(), format, events: 0 }
    }

    /// The source reader (to read its counters once the part is done).
    pub(crate) fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }

}

/// The error of a streamed part: a limit hit while inflating, or bad XML.
fn stream_error(e: quick_xml::Error, position: u64, format: Format) -> Error {
    if let quick_xml::Error::Io(io) = &e
        && let Some(hit) = io.get_ref().and_then(|i| i.downcast_ref::<crate::limits::LimitHit>())
    {
        return hit.to_error();
    }
    Error::malformed(format, format!("XML error at byte {position}: {e}"))
}

impl<R: std::io::BufRead> XmlSource for XmlStream<R> {
    fn event(&mut self, ctx: &Ctx) -> Result<Event<'_>> {
        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(4096) {
            ctx.check()?;
        }
        // A huge single event (a megabyte-long text run) is fine; the buffer does not
        // stay that large for the rest of the part.
        if self.buf.capacity() > (4 << 20) {
            self.buf = Vec::new();
        }
        self.buf.clear();
        let (inner, format) = (&mut self.inner, self.format);
        inner.read_event_into(&mut self.buf).map_err(|e| stream_error(e, 0, format))
    }

    fn skip_name(&mut self, name: &str) -> Result<()> {
        self.skip_buf.clear();
        let r = self.inner.read_to_end_into(quick_xml::name::QName(name), &mut self.skip_buf);
        r.map(|_| ()).map_err(|e| stream_error(e, self.inner.buffer_position(), self.format))
    }
}

/// The local name of an element (`w:t` → `t`).
pub(crate) fn local<'b>(e: &'b BytesStart<'_>) -> &'b str {
    let name: &str = e.name().0;
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Local name of an end tag.
pub(crate) fn local_end<'b>(e: &'b quick_xml::events::BytesEnd<'_>) -> &'b str {
    let name: &str = e.name().0;
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The value of an attribute by its full name (`r:id`), unescaped; `None` when absent.
pub(crate) fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok().flatten()?;
    Some(match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
        Ok(v) => v.into_owned(),
        Err(_) => a.value.into_owned(),
    })
}

/// The value of the first prefixed attribute whose local name is `local_name` (`r:id`
/// under any prefix; an unprefixed `id` does not match).
pub(crate) fn attr_ns(e: &BytesStart<'_>, local_name: &str) -> Option<String> {
    for a in e.attributes().with_checks(false).flatten() {
        let key: &str = a.key.0;
        let Some((_, lk)) = key.split_once(':') else { continue };
        if lk == local_name {
            return Some(match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(_) => a.value.into_owned(),
            });
        }
    }
    None
}

/// Appends the text a general reference stands for: a character reference or one of the
/// five predefined entities. Other (custom) entities are dropped, never expanded.
pub(crate) fn push_ref(out: &mut String, r: &BytesRef<'_>) {
    if r.is_char_ref() {
        if let Ok(Some(c)) = r.resolve_char_ref() {
            out.push(c);
        }
        return;
    }
    let s: &str = r;
    match s {
        "amp" => out.push('&'),
        "lt" => out.push('<'),
        "gt" => out.push('>'),
        "quot" => out.push('"'),
        "apos" => out.push('\''),
        _ => {}
    }
}

/// Text of an element up to its end tag, for simple elements such as `<v>` or `<t>`.
pub(crate) fn read_text(r: &mut impl XmlSource, ctx: &Ctx, out: &mut String) -> Result<()> {
    let mut depth = 0usize;
    loop {
        match r.event(ctx)? {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(g) => push_ref(out, &g),
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                if depth == 0 {
                    return Ok(());
                }
                depth -= 1;
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn refs_resolve_but_custom_entities_do_not_expand() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY lol "lol"><!ENTITY x SYSTEM "file:///etc/passwd">]><r>a&amp;&#54620;&#x41;&lol;&x;b</r>"#;
        let limits = Limits::default();
        let ctx = Ctx::new(&limits, None, None);
        let mut r = XmlReader::new(xml, Format::Docx);
        let mut out = String::new();
        loop {
            match r.next(&ctx).unwrap() {
                Event::Start(e) if local(&e) == "r" => read_text(&mut r, &ctx, &mut out).unwrap(),
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(out, "a&한Ab");
    }
}
