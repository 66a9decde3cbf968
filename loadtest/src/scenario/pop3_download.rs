//! `pop3-download`: a POP3 client collecting its mail, as a phone or a desktop client polls.
//!
//! Login, STAT, LIST, UIDL, RETR of every message, then RSET and QUIT (so the maildrop stays
//! as it was and the next session downloads it all again), or DELE of every message and QUIT
//! when deleting. Checked on the way: STAT, LIST and UIDL agree on the messages, UIDLs are
//! unique, each RETR delivers exactly LIST's size, and a sample of messages matches the
//! stored files byte for byte.

use tokio::time::Instant;

use super::{Checks, Ctx, Locate, SessionError};
use crate::metrics::Step;
use crate::verify;

pub(super) async fn session(
    ctx: &Ctx,
    user: &str,
    pass: &str,
    delete: bool,
    checks: &mut Checks,
) -> Result<(), SessionError> {
    let rec = &ctx.rec;
    let mut pop = ctx.pop3_login(user, pass).await?;

    let t = Instant::now();
    let stat = pop.stat().await?;
    rec.record(Step::Select, t.elapsed());
    let t = Instant::now();
    let list = pop.list().await?;
    rec.record(Step::Fetch, t.elapsed());
    let t = Instant::now();
    let uidl = pop.uidl().await?;
    rec.record(Step::Fetch, t.elapsed());

    let listing_errors = verify::pop3_listing(stat, &list, &uidl);
    let listing_ok = listing_errors.is_empty();
    checks.errors.extend(listing_errors);

    for (pos, &(msg, size)) in list.iter().enumerate() {
        let keep = checks.sample();
        let t = Instant::now();
        let body = pop.retr(msg, keep).await?;
        let elapsed = t.elapsed();
        rec.bytes(body.len);
        let mut ok = checks.check(verify::pop3_size(msg, size, body.len));
        if let Some(bytes) = body.bytes.as_deref() {
            // Without a consistent listing, a UIDL cannot be trusted to locate the file.
            let uidl = uidl
                .get(pos)
                .filter(|_| listing_ok)
                .map_or("", |(_, u)| u.as_str());
            let r = checks
                .compare(Locate::Pop3 { pos, uidl }, bytes, &format!("message {msg}"))
                .await;
            ok &= checks.check(r);
        }
        // A wrong answer is not a data point for latency.
        if ok {
            rec.record(Step::Retr, elapsed);
        }
        if delete {
            pop.dele(msg).await?;
        }
    }

    if !delete {
        pop.rset().await?;
    }
    let t = Instant::now();
    pop.quit().await?;
    rec.record(Step::Logout, t.elapsed());
    Ok(())
}
