//! [`PartTree`]: where each MIME part's header and body lie in the stored message, all that
//! `BODY[section]` needs once the message has been analysed.
//!
//! An index keeps it per message, so it has a compact encoding: a version byte, then for
//! each part in depth-first order its header offset, header length, body length, kind and
//! number of children, all as LEB128 varints. Decoding checks every invariant (parts nested
//! inside their parent's body, in order, a message/rfc822 part with exactly one child) and
//! refuses anything else, so a damaged index entry is noticed instead of serving wrong
//! bytes; the caller then analyses the message again.

use std::ops::Range;

use super::parser::{MULTIPART, Part};

const VERSION: u8 = 1;

/// What a part is, as far as section numbers are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A leaf: text, image, anything without parts inside.
    Leaf,
    Multipart,
    /// message/rfc822: one child, the message inside.
    Message,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub header_start: usize,
    pub body_start: usize,
    pub end: usize,
    pub kind: Kind,
    /// Indexes into [`PartTree::nodes`].
    pub children: Vec<usize>,
}

impl Node {
    pub fn header(&self) -> Range<usize> {
        self.header_start..self.body_start
    }

    pub fn body(&self) -> Range<usize> {
        self.body_start..self.end
    }
}

/// The MIME parts of a message; the first is the message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTree {
    pub(crate) nodes: Vec<Node>,
}

impl PartTree {
    pub(crate) fn from_parts(parts: &[Part]) -> PartTree {
        PartTree {
            nodes: parts
                .iter()
                .map(|p| Node {
                    header_start: p.pos,
                    body_start: p.body_start(),
                    end: p.end(),
                    kind: if p.flags & MULTIPART != 0 {
                        Kind::Multipart
                    } else if super::data::is_rfc822(p) {
                        Kind::Message
                    } else {
                        Kind::Leaf
                    },
                    children: p.children.clone(),
                })
                .collect(),
        }
    }

    /// Appends the compact encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        varint(out, self.nodes.len() as u64);
        for n in &self.nodes {
            varint(out, n.header_start as u64);
            varint(out, (n.body_start - n.header_start) as u64);
            varint(out, (n.end - n.body_start) as u64);
            out.push(match n.kind {
                Kind::Leaf => 0,
                Kind::Multipart => 1,
                Kind::Message => 2,
            });
            varint(out, n.children.len() as u64);
        }
    }

    /// Decodes what [`encode`](Self::encode) wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<PartTree> {
        let mut r = Reader { bytes, pos: 0 };
        if r.byte()? != VERSION {
            return None;
        }
        let count = usize::try_from(r.varint()?).ok()?;
        // Every node takes at least five bytes, so a count beyond that is damage, not a
        // reason to allocate.
        if count == 0 || count > bytes.len() / 5 {
            return None;
        }
        let mut nodes = Vec::with_capacity(count);
        let mut child_counts = Vec::with_capacity(count);
        for _ in 0..count {
            let header_start = usize::try_from(r.varint()?).ok()?;
            let body_start = header_start.checked_add(usize::try_from(r.varint()?).ok()?)?;
            let end = body_start.checked_add(usize::try_from(r.varint()?).ok()?)?;
            let kind = match r.byte()? {
                0 => Kind::Leaf,
                1 => Kind::Multipart,
                2 => Kind::Message,
                _ => return None,
            };
            let children = usize::try_from(r.varint()?).ok()?;
            match kind {
                Kind::Leaf if children != 0 => return None,
                Kind::Message if children != 1 => return None,
                _ => {}
            }
            nodes.push(Node {
                header_start,
                body_start,
                end,
                kind,
                children: Vec::new(),
            });
            child_counts.push(children);
        }
        if r.pos != bytes.len() {
            return None;
        }
        // Rebuild the links from the depth-first order, checking nesting as we go.
        let mut stack: Vec<(usize, usize)> = vec![(0, child_counts[0])];
        for i in 1..count {
            while let Some(&(_, 0)) = stack.last() {
                stack.pop();
            }
            let (parent, left) = stack.last_mut()?;
            *left -= 1;
            let parent = *parent;
            let p = &nodes[parent];
            let prev_end = p.children.last().map_or(p.body_start, |&c| nodes[c].end);
            let n = &nodes[i];
            if n.header_start < prev_end || n.end > p.end {
                return None;
            }
            nodes[parent].children.push(i);
            stack.push((i, child_counts[i]));
        }
        if stack.iter().any(|&(_, left)| left != 0) {
            return None;
        }
        Some(PartTree { nodes })
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                // Only the shortest form is valid, so each tree has one encoding.
                if b == 0 && shift > 0 {
                    return None;
                }
                return Some(v);
            }
        }
        None
    }
}
