//! `imap-sync`: what a mail client does when it sets up an account on a fresh device.
//!
//! Login, SELECT INBOX, one `UID FETCH 1:*` of what a message list shows (UID, flags,
//! arrival date, size and the main header fields), then the full text (`BODY.PEEK[]`, which
//! leaves \Seen alone so every session sees the same mailbox) of the `newest` messages, one
//! command each as clients fetch what the user opens, then LOGOUT.
//!
//! Checked on the way: one FETCH response per message announced by EXISTS, sequence numbers
//! 1..n, UIDs strictly ascending, each body exactly RFC822.SIZE bytes, and a sample of
//! bodies byte for byte against the stored files.

use tokio::time::Instant;

use super::{Checks, Ctx, Locate, SessionError};
use crate::metrics::Step;
use crate::proto::ProtoError;
use crate::verify::{self, VerifyError};

/// The listing a client fetches for its message list.
pub const LIST_ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE \
     BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)])";
/// What it fetches to show one message.
pub const BODY_ITEMS: &str = "(UID RFC822.SIZE BODY.PEEK[])";

pub(super) async fn session(
    ctx: &Ctx,
    user: &str,
    pass: &str,
    newest: usize,
    checks: &mut Checks,
) -> Result<(), SessionError> {
    let rec = &ctx.rec;
    let mut imap = ctx.imap_login(user, pass).await?;

    let t = Instant::now();
    let sel = imap.select("INBOX").await?;
    rec.record(Step::Select, t.elapsed());

    let mut listing = Vec::new();
    // "1:*" on an empty mailbox is an error for some servers; a client does not ask.
    if sel.exists > 0 {
        let t = Instant::now();
        let (fetches, exists_seen) = imap.uid_fetch("1:*", LIST_ITEMS, &|_| false).await?;
        rec.record(Step::Fetch, t.elapsed());
        let mut exists = vec![sel.exists];
        exists.extend(exists_seen);
        checks
            .errors
            .extend(verify::imap_listing(&exists, &fetches));
        for f in &fetches {
            match &f.header {
                Some(Some(h)) => rec.bytes(h.len),
                Some(None) => {}
                None => {
                    return Err(ProtoError::Malformed(format!(
                        "FETCH response for message {} lacks the header fields asked for",
                        f.seq
                    ))
                    .into());
                }
            }
        }
        listing = fetches;
        listing.sort_by_key(|f| f.seq);
    }

    let newest_first = listing
        .iter()
        .rev()
        .filter_map(|f| Some((f.uid?, f.size)))
        .take(newest);
    for (uid, listed_size) in newest_first {
        let keep = checks.sample();
        let t = Instant::now();
        let (fetches, _) = imap
            .uid_fetch(&uid.to_string(), BODY_ITEMS, &|_| keep)
            .await?;
        let elapsed = t.elapsed();
        // Servers may add unsolicited FETCHes (flag changes of other messages).
        let Some(f) = fetches
            .into_iter()
            .find(|f| f.uid == Some(uid) && f.body.is_some())
        else {
            checks.errors.push(VerifyError::Count(format!(
                "UID FETCH {uid} returned no body for it"
            )));
            continue;
        };
        let Some(Some(body)) = f.body else {
            checks
                .errors
                .push(VerifyError::Size(format!("UID {uid}: BODY[] is NIL")));
            continue;
        };
        rec.bytes(body.len);
        let size = f.size.or(listed_size).unwrap_or(0);
        let mut ok = checks.check(verify::imap_size(uid, size, body.len));
        if let (Some(a), Some(b)) = (f.size, listed_size)
            && a != b
        {
            ok &= checks.check(Err(VerifyError::Size(format!(
                "UID {uid}: RFC822.SIZE {b} in the listing, {a} with the body"
            ))));
        }
        if let Some(bytes) = body.bytes.as_deref() {
            let at = Locate::Imap {
                uid,
                uid_validity: sel.uid_validity,
            };
            let r = checks.compare(at, bytes, &format!("UID {uid}")).await;
            ok &= checks.check(r);
        }
        if ok {
            rec.record(Step::Fetch, elapsed);
        }
    }

    let t = Instant::now();
    imap.logout().await?;
    rec.record(Step::Logout, t.elapsed());
    Ok(())
}
