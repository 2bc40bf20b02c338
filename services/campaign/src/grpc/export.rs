//! Long exports (issue 22): their budget, and streaming page by page.
//!
//! - **Budget.** At most [`MAX_EXPORTS`] exports run at once in a process,
//!   and at most [`PER_MERCHANT`] of one merchant, so one merchant's auditor
//!   cannot take every slot from the others; of them at most
//!   [`MAX_SNAPSHOTS`] hold a read snapshot for their whole length
//!   (`ExportCampaign`), so exports never take more than two of SQLite's
//!   four readers or of PostgreSQL's pool. Over a limit a call is
//!   RESOURCE_EXHAUSTED at once, saying which (`reason` in the message:
//!   `merchant`, `engine` or `snapshots`), and changes nothing.
//! - **Pages.** `ExportAuditLog` and `ExportLedger` read one page at a time,
//!   each in its own short read transaction, up to a bound fixed when the
//!   export starts: an export holds no connection or snapshot while the
//!   client reads, and never more than a page in memory.
//! - **Stalls.** A client that reads nothing for `stream_stall_secs` is
//!   cut: the stream ends with DEADLINE_EXCEEDED after what was queued,
//!   never with OK on a truncated export.
//!
//! `ExportCampaign` reads one snapshot (its closing stock must match its
//! draws) under the same budget and stall cut (`audit.rs`).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::Status;

/// Exports running at once in this process.
pub const MAX_EXPORTS: usize = 4;
/// Exports of one merchant running at once.
pub const PER_MERCHANT: usize = 2;
/// Exports holding one read snapshot (and connection) throughout.
pub const MAX_SNAPSHOTS: usize = 2;

/// The exports running now, in all and per merchant.
pub struct ExportBudget {
    all: Arc<Semaphore>,
    snapshots: Arc<Semaphore>,
    merchants: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for ExportBudget {
    fn default() -> Self {
        Self {
            all: Arc::new(Semaphore::new(MAX_EXPORTS)),
            snapshots: Arc::new(Semaphore::new(MAX_SNAPSHOTS)),
            merchants: Arc::default(),
        }
    }
}

/// Whether an export reads page by page or holds one snapshot throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    Paged,
    Snapshot,
}

/// One running export's place in the budget, given back when dropped.
pub struct ExportPermit {
    _all: OwnedSemaphorePermit,
    _snapshot: Option<OwnedSemaphorePermit>,
    merchant: String,
    merchants: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for ExportPermit {
    fn drop(&mut self) {
        let mut m = self.merchants.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.merchant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.merchant);
            }
        }
    }
}

impl ExportBudget {
    /// A place for an export of `merchant`, or RESOURCE_EXHAUSTED.
    pub fn try_acquire(&self, merchant: &str, reads: Reads) -> Result<ExportPermit, Status> {
        let mut m = self.merchants.lock().unwrap_or_else(|p| p.into_inner());
        let running = m.get(merchant).copied().unwrap_or(0);
        if running >= PER_MERCHANT {
            return Err(Status::resource_exhausted(format!(
                "exports busy (reason: merchant): {PER_MERCHANT} exports of this merchant are \
                 running; retry when one has finished"
            )));
        }
        let all = self.all.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "exports busy (reason: engine): {MAX_EXPORTS} exports are running; retry when \
                 one has finished"
            ))
        })?;
        let snapshot = match reads {
            Reads::Paged => None,
            Reads::Snapshot => Some(self.snapshots.clone().try_acquire_owned().map_err(|_| {
                Status::resource_exhausted(format!(
                    "exports busy (reason: snapshots): {MAX_SNAPSHOTS} campaign exports are \
                     running; retry when one has finished"
                ))
            })?),
        };
        m.insert(merchant.to_owned(), running + 1);
        Ok(ExportPermit {
            _all: all,
            _snapshot: snapshot,
            merchant: merchant.to_owned(),
            merchants: self.merchants.clone(),
        })
    }
}

/// One page of an export: its items, and where the next page starts
/// (`None`: this was the last).
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

pub type PageFuture<T, C> = Pin<Box<dyn Future<Output = Result<Page<T, C>, Status>> + Send>>;
pub type ItemStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Streams the pages `fetch` reads, from its first (`fetch(None)`) on.
/// The first page is read before answering, so a refusal is a plain
/// status; a later failure ends the stream with it. The permit is held
/// until the last item is queued or the client goes away or is cut.
pub async fn paged<T, C>(
    permit: ExportPermit,
    stall: Duration,
    mut fetch: impl FnMut(Option<C>) -> PageFuture<T, C> + Send + 'static,
) -> Result<ItemStream<T>, Status>
where
    T: Send + 'static,
    C: Send + 'static,
{
    let first = fetch(None).await?;
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(64);
    let cut = Arc::new(AtomicBool::new(false));
    let cut_by_sender = cut.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut page = first;
        loop {
            for item in page.items {
                match tokio::time::timeout(stall, tx.send(Ok(item))).await {
                    Ok(Ok(())) => {}
                    // The client went away.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        cut_by_sender.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
            let Some(next) = page.next else { return };
            page = match fetch(Some(next)).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
        }
    });
    Ok(Box::pin(
        ReceiverStream::new(rx).chain(stall_verdict(cut, stall)),
    ))
}

/// After the last queued item: DEADLINE_EXCEEDED if the client was cut for
/// not reading, nothing otherwise.
pub fn stall_verdict<T>(
    cut: Arc<AtomicBool>,
    stall: Duration,
) -> impl Stream<Item = Result<T, Status>> + Send {
    tokio_stream::once(()).filter_map(move |()| {
        cut.load(Ordering::SeqCst).then(|| {
            Err(Status::deadline_exceeded(format!(
                "the export was not read for {} s and was cut; export again",
                stall.as_secs()
            )))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_merchant_cannot_take_every_export() {
        let b = ExportBudget::default();
        let a1 = b.try_acquire("a", Reads::Paged).expect("a 1");
        let a2 = b.try_acquire("a", Reads::Paged).expect("a 2");
        let refused = b
            .try_acquire("a", Reads::Paged)
            .map(|_| ())
            .expect_err("a 3");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("reason: merchant"),
            "{refused:?}"
        );
        let others = [
            b.try_acquire("b", Reads::Paged),
            b.try_acquire("c", Reads::Paged),
        ];
        assert!(others.iter().all(Result::is_ok));
        let full = b
            .try_acquire("d", Reads::Paged)
            .map(|_| ())
            .expect_err("engine full");
        assert!(full.message().contains("reason: engine"), "{full:?}");
        drop(a1);
        assert!(
            b.try_acquire("d", Reads::Paged).is_ok(),
            "a place given back"
        );
        drop(a2);
        drop(others);
        assert!(b.merchants.lock().expect("lock").is_empty());
        // Two snapshot exports at most, whoever runs them.
        let s1 = b.try_acquire("a", Reads::Snapshot).expect("snapshot 1");
        let s2 = b.try_acquire("b", Reads::Snapshot).expect("snapshot 2");
        let third = b
            .try_acquire("c", Reads::Snapshot)
            .map(|_| ())
            .expect_err("3");
        assert!(third.message().contains("reason: snapshots"), "{third:?}");
        assert!(b.try_acquire("c", Reads::Paged).is_ok(), "paged still runs");
        drop((s1, s2));
        assert!(b.try_acquire("c", Reads::Snapshot).is_ok());
    }

    #[tokio::test]
    async fn pages_stream_in_order_and_a_reader_that_stops_is_cut() {
        use tokio_stream::StreamExt;
        let fetch = |after: Option<u32>| -> PageFuture<u32, u32> {
            Box::pin(async move {
                let from = after.unwrap_or(0);
                let items: Vec<u32> = (from + 1..=(from + 10).min(25)).collect();
                let next = items.last().copied().filter(|l| *l < 25);
                Ok(Page { items, next })
            })
        };
        let b = ExportBudget::default();
        let stream = paged(
            b.try_acquire("m", Reads::Paged).expect("permit"),
            Duration::from_secs(5),
            fetch,
        )
        .await
        .expect("stream");
        let got: Vec<u32> = stream.map(|r| r.expect("item")).collect().await;
        assert_eq!(got, (1..=25).collect::<Vec<_>>());

        // A reader that takes nothing: cut after the stall, its place back.
        let endless = |after: Option<u32>| -> PageFuture<u32, u32> {
            Box::pin(async move {
                let from = after.unwrap_or(0);
                Ok(Page {
                    items: (from + 1..=from + 100).collect(),
                    next: Some(from + 100),
                })
            })
        };
        let mut stream = paged(
            b.try_acquire("m", Reads::Paged).expect("permit"),
            Duration::from_millis(100),
            endless,
        )
        .await
        .expect("stream");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut last = None;
        while let Some(item) = stream.next().await {
            last = Some(item);
        }
        let end = last.expect("items").expect_err("cut");
        assert_eq!(end.code(), tonic::Code::DeadlineExceeded);
        assert!(b.merchants.lock().expect("lock").is_empty());
    }
}
