//! Queues that outlive their owner: `replicas: 2` (the owner dies, its replica serves every
//! acknowledged record), `disk` (the owner restarts, with a new node id, and has them all),
//! and consumer groups (offsets committed in the cluster, records not acknowledged handed out
//! again after the visibility timeout).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{fast, node, wait_for};
use pulsing_actor::prelude::*;
use pulsing_actor::queue::{GroupOptions, ReadOptions, WriteOptions};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pulsing-qd-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn members(n: &ActorSystem, count: usize) {
    let n = n.clone();
    wait_for(&format!("{count} members"), Duration::from_secs(10), || {
        let n = n.clone();
        async move { n.members().await.len() == count }
    })
    .await;
}

async fn read_all(r: &mut pulsing_actor::queue::QueueReader) -> Vec<u32> {
    let mut out = Vec::new();
    loop {
        let got = r.get(1000, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            return out;
        }
        out.extend(got.iter().map(|m| m.unpack::<(String, u32)>().unwrap().1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_every_acknowledged_record_survives_its_owner() {
    let a = node(vec![]).await;
    let seed = vec![a.addr().unwrap().to_string()];
    let b = node(seed.clone()).await;
    let c = node(seed).await;
    for n in [&a, &b, &c] {
        members(n, 3).await;
    }
    // Node ids are random, so which node owns which bucket is too: the owner that dies is b
    // or c, whichever owns more buckets (all 16 on a: one run in 43 million).
    const BUCKETS: u32 = 16;
    let owned = |n: &ActorSystem| {
        (0..BUCKETS)
            .filter(|bk| a.queue_owner("kept", *bk) == n.node_id())
            .count()
    };
    let (survivor, owner) = if owned(&c) >= owned(&b) {
        (b, c)
    } else {
        (c, b)
    };
    assert!(owned(&owner) > 0, "b or c owns a bucket of {BUCKETS}");
    let opts = WriteOptions {
        num_buckets: BUCKETS,
        batch_size: 10,
        replicas: 2,
        ..WriteOptions::new("id")
    };
    let w = a.queues().writer("kept", opts).unwrap();
    for i in 0..300u32 {
        let key = format!("k{}", i % 41);
        w.put(&key, &(key.clone(), i)).await.unwrap();
    }
    w.flush().await.unwrap();

    // The owner of some buckets dies: every record is still read, from the replicas.
    owner.shutdown().await.unwrap();
    drop(owner);
    members(&a, 2).await;
    members(&survivor, 2).await;
    let mut r = survivor
        .queues()
        .reader("kept", ReadOptions::rank_of(0, 1, BUCKETS))
        .unwrap();
    let mut seen = read_all(&mut r).await;
    seen.sort();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_queue_and_its_group_offsets_come_back_when_the_owner_restarts() {
    let dir = tmp("restart");
    let start = || {
        ActorSystem::builder()
            .storage_path(&dir)
            .cluster(fast(vec![]))
            .build()
    };
    let first = start().await.unwrap();
    let opts = WriteOptions {
        num_buckets: 2,
        batch_size: 25,
        disk: true,
        ..WriteOptions::new("id")
    };
    let w = first.queues().writer("durable", opts).unwrap();
    for i in 0..100u32 {
        let key = format!("k{}", i % 7);
        w.put(&key, &(key.clone(), i)).await.unwrap();
    }
    w.flush().await.unwrap();
    let group = GroupOptions {
        visibility: Duration::from_millis(300),
        ..GroupOptions::all(2)
    };
    let mut g = first
        .queues()
        .group_reader("durable", "workers", group.clone())
        .unwrap();
    let got = g.get(60, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 60);
    g.ack(&got[..40]).await.unwrap();
    // The 20 not acknowledged come back once their visibility timeout passes (after the
    // records never handed out yet).
    let unacked: BTreeSet<(u32, u64)> = got[40..].iter().map(|d| (d.bucket, d.offset)).collect();
    let mut again: BTreeSet<(u32, u64)> = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !unacked.is_subset(&again) {
        assert!(
            std::time::Instant::now() < deadline,
            "{unacked:?} not handed out again: {again:?}"
        );
        let more = g.get(100, Duration::from_secs(5)).await.unwrap();
        again.extend(more.iter().map(|d| (d.bucket, d.offset)));
    }
    let first_id = first.node_id();
    first.shutdown().await.unwrap();
    drop((w, g, first));

    // Restarted (a new node id), on the same directory: every record, and the group resumes
    // after what it acknowledged.
    let second = start().await.unwrap();
    assert_ne!(second.node_id(), first_id);
    let mut r = second
        .queues()
        .reader("durable", ReadOptions::rank_of(0, 1, 2))
        .unwrap();
    let mut seen = read_all(&mut r).await;
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    let mut g = second
        .queues()
        .group_reader("durable", "workers", group)
        .unwrap();
    let mut rest = Vec::new();
    loop {
        let got = g.get(1000, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            break;
        }
        g.commit().await.unwrap();
        rest.extend(got);
    }
    assert_eq!(
        rest.len(),
        60,
        "100 records, 40 acknowledged before the restart: the rest, each once"
    );
    second.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_put_is_acknowledged_only_once_its_records_are_synced() {
    use pulsing_actor::cluster::queue::log::hook_syncs_under;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    // kill -9 keeps the page cache, so no crash test sees a missing fdatasync: this one holds
    // the sync (a hook in its place for this directory) and watches the acknowledgement wait.
    let dir = tmp("synced");
    let open = Arc::new((Mutex::new(true), Condvar::new()));
    /// Opens the gate when dropped: a failing test must not leave a sync blocked (the
    /// runtime waits for its blocking threads as it shuts down).
    struct OpenOnDrop(Arc<(Mutex<bool>, Condvar)>);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            let (lock, cv) = &*self.0;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cv.notify_all();
        }
    }
    let _opens = OpenOnDrop(open.clone());
    let (entered, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (o, e, d) = (open.clone(), entered.clone(), done.clone());
    hook_syncs_under(
        &dir,
        Some(Arc::new(move |_path, sync| {
            e.fetch_add(1, Ordering::SeqCst);
            let (lock, cv) = &*o;
            let _held = cv.wait_while(lock.lock().unwrap(), |open| !*open).unwrap();
            let r = sync();
            d.fetch_add(1, Ordering::SeqCst);
            r
        })),
    );
    let sys = ActorSystem::builder()
        .storage_path(&dir)
        .build()
        .await
        .unwrap();
    let opts = WriteOptions {
        num_buckets: 1,
        batch_size: 1,
        disk: true,
        ..WriteOptions::new("id")
    };
    let w = Arc::new(sys.queues().writer("synced", opts).unwrap());
    // The bucket and its files exist (their creation is synced too, gate open).
    w.put("k", &("k".to_string(), 0u32)).await.unwrap();
    w.flush().await.unwrap();

    *open.0.lock().unwrap() = false;
    let before = (entered.load(Ordering::SeqCst), done.load(Ordering::SeqCst));
    let w2 = w.clone();
    let mut put = tokio::spawn(async move {
        w2.put("k", &("k".to_string(), 1u32)).await?;
        w2.flush().await
    });
    wait_for("the put's sync to start", Duration::from_secs(10), || {
        let e = entered.clone();
        async move { e.load(Ordering::SeqCst) > before.0 }
    })
    .await;
    // The sync is held, so the put is not acknowledged, however long it is given.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut put)
            .await
            .is_err(),
        "acknowledged before its records were synced"
    );
    assert_eq!(done.load(Ordering::SeqCst), before.1);
    {
        let (lock, cv) = &*open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    put.await.unwrap().unwrap();
    assert!(
        done.load(Ordering::SeqCst) > before.1,
        "synced, then acknowledged"
    );
    hook_syncs_under(&dir, None);
    let mut r = sys
        .queues()
        .reader("synced", ReadOptions::buckets(vec![0]))
        .unwrap();
    assert_eq!(read_all(&mut r).await, vec![0, 1]);
    sys.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
