//! Tests of the queue store: offsets, merges by origin, replicas, disk recovery.

use super::*;

fn recs(v: &[&'static str]) -> Vec<Bytes> {
    v.iter().map(|s| Bytes::from_static(s.as_bytes())).collect()
}

fn copy_of(records: &[&'static str], origin: u64) -> Snapshot {
    Snapshot {
        base: 0,
        records: records
            .iter()
            .map(|r| serde_bytes::ByteBuf::from(r.as_bytes().to_vec()))
            .collect(),
        origin,
        placement: Placement::default(),
        settled: false,
        recovered: false,
        not_before: BTreeMap::new(),
        times: BTreeMap::new(),
        committed: BTreeMap::new(),
    }
}

#[tokio::test]
async fn appends_are_read_by_offset_and_a_waiting_read_wakes_on_append() {
    let s = Arc::new(QueueStore::default());
    s.install("q", 1, vec![]).unwrap();
    assert!(s.append("q", 9, recs(&["x"])).is_err(), "not held");
    assert_eq!(s.append("q", 1, recs(&["a", "b"])).unwrap().0, 0);
    assert_eq!(s.append("q", 1, recs(&["c"])).unwrap().0, 2);
    let (r, next) = s.read("q", 1, 1, 10);
    assert_eq!((r.len(), next), (2, 3));
    assert_eq!(s.read("q", 2, 0, 10), (vec![], 0));
    let waiting = tokio::spawn({
        let s = s.clone();
        async move { s.read_waiting("q", 1, 3, 10, Duration::from_secs(10)).await }
    });
    tokio::task::yield_now().await;
    s.append("q", 1, recs(&["d"])).unwrap();
    assert_eq!(waiting.await.unwrap(), (recs(&["d"]), 4));
    assert_eq!(
        s.read_waiting("q", 1, 4, 10, Duration::from_millis(20))
            .await,
        (vec![], 4)
    );
    // Taken whole, installed whole: the offsets mean the same on the next holder, and
    // what it had of another origin comes after them.
    let t = QueueStore::default();
    t.install("q", 1, vec![]).unwrap();
    t.append("q", 1, recs(&["new"])).unwrap();
    let c = s.take("q", 1).unwrap();
    t.install("q", 1, vec![c]).unwrap();
    assert!(!s.holds("q", 1) && t.holds("q", 1));
    assert_eq!(t.read("q", 1, 0, 10).0.len(), 5);
    assert!(s.append("q", 1, recs(&["x"])).is_err(), "moved away");
}

#[test]
fn copies_of_one_origin_merge_without_doubling_and_others_are_appended() {
    let s = QueueStore::default();
    // An old owner's copy and its replica's (shorter): the longer wins.
    s.install(
        "q",
        0,
        vec![copy_of(&["a", "b"], 5), copy_of(&["a", "b", "c"], 5)],
    )
    .unwrap();
    assert_eq!(s.read("q", 0, 0, 10).0, recs(&["a", "b", "c"]));
    // The same lineage again, behind: nothing added.
    s.install("q", 0, vec![copy_of(&["a"], 5)]).unwrap();
    // Another lineage (the other side of a partition): all of it appended.
    s.install("q", 0, vec![copy_of(&["a"], 9)]).unwrap();
    assert_eq!(s.read("q", 0, 0, 10).0, recs(&["a", "b", "c", "a"]));
}

#[test]
fn a_replica_follows_its_owner_and_asks_for_what_it_misses() {
    let s = QueueStore::default();
    let p = Placement {
        disk: false,
        replicas: 2,
        num_buckets: 1,
        ..Placement::default()
    };
    let none = BTreeMap::new();
    assert_eq!(
        s.replicate("q", 0, 0, 2, recs(&["c"]), 7, p, &none, &BTreeMap::new())
            .unwrap()
            .0,
        0,
        "behind: tells its length"
    );
    assert_eq!(
        s.replicate(
            "q",
            0,
            0,
            0,
            recs(&["a", "b", "c"]),
            7,
            p,
            &none,
            &BTreeMap::new()
        )
        .unwrap()
        .0,
        3
    );
    assert!(!s.holds("q", 0), "a replica is not held");
    assert_eq!(s.read("q", 0, 0, 10).0.len(), 0, "nor read");
    // Longer than its owner (records never acknowledged): cut to the owner's.
    assert_eq!(
        s.replicate("q", 0, 0, 1, recs(&["x"]), 7, p, &none, &BTreeMap::new())
            .unwrap()
            .0,
        2
    );
    assert_eq!(s.replica_copies(), vec![("q".to_string(), 0)]);
    // Its owner gone, it becomes the owner with what it has.
    s.install("q", 0, vec![]).unwrap();
    assert_eq!(
        s.settings("q", 0),
        Some((p, true)),
        "still kept as its writer asked"
    );
    assert_eq!(s.read("q", 0, 0, 10).0, recs(&["a", "x"]));
    assert!(s
        .replicate("q", 0, 0, 2, vec![], 7, p, &none, &BTreeMap::new())
        .is_err());
    let r = QueueStore::default();
    r.replicate("q", 1, 0, 0, vec![], 7, p, &none, &BTreeMap::new())
        .unwrap();
    r.age_replicas(|_, _| false, 2);
    assert_eq!(r.replica_copies().len(), 1);
    r.age_replicas(|_, _| false, 2);
    assert!(r.replica_copies().is_empty());
}

#[tokio::test]
async fn disk_buckets_come_back_on_recover_with_their_group_offsets() {
    let root = std::env::temp_dir().join(format!("pulsing-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let p = Placement {
        disk: true,
        replicas: 1,
        num_buckets: 4,
        ..Placement::default()
    };
    {
        let s = QueueStore::at(&root);
        s.install("jobs", 2, vec![]).unwrap();
        s.settle("jobs", 2, p).unwrap();
        let (_, sync) = s.append("jobs", 2, recs(&["a", "b", "c"])).unwrap();
        synced(sync).await.unwrap();
        let got = s
            .group_get(
                "jobs",
                2,
                "g",
                2,
                Duration::from_secs(30),
                Duration::ZERO,
                0,
            )
            .await
            .unwrap();
        assert_eq!(got.give.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.group_ack("jobs", 2, "g", &[0, 1]).unwrap(), (2, true));
        // A record put with a delay (an hour from now) goes to disk with it.
        let later = unix_ms(std::time::SystemTime::now()) + 3_600_000;
        let (_, sync) = s
            .append_delayed("jobs", 2, recs(&["d"]), &[(0, later)])
            .unwrap();
        synced(sync).await.unwrap();
    }
    let s = QueueStore::at(&root);
    assert_eq!(s.recover().unwrap(), 1);
    // Read back, but not served until taken over (others may have kept it going meanwhile).
    assert_eq!(s.recovered(), vec![("jobs".to_string(), 2)]);
    assert!(!s.holds("jobs", 2));
    assert!(s.read("jobs", 2, 0, 10).0.is_empty());
    s.install("jobs", 2, vec![]).unwrap(); // nobody else had it
    assert_eq!(
        s.settings("jobs", 2),
        Some((p, true)),
        "settled, from its metadata"
    );
    assert_eq!(s.read("jobs", 2, 0, 10).0, recs(&["a", "b", "c", "d"]));
    let got = s
        .group_get(
            "jobs",
            2,
            "g",
            10,
            Duration::from_secs(30),
            Duration::ZERO,
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        got.give,
        vec![(2, Bytes::from_static(b"c"), 1)],
        "resumes at its commit; the delayed record is still held back"
    );
    let c = s.take("jobs", 2).unwrap();
    assert_eq!(c.committed["g"], 2);
    s.release("jobs", 2);
    drop(s);
    assert_eq!(QueueStore::at(&root).recover().unwrap(), 0);
}

#[test]
fn a_reader_leaves_a_bucket_unsettled_the_first_writer_settles_it_and_a_later_one_must_agree() {
    let s = QueueStore::default();
    // A reader came first: held, empty, kept in memory until a writer says otherwise.
    s.install("q", 0, vec![]).unwrap();
    assert_eq!(s.settings("q", 0), Some((Placement::default(), false)));
    let two = Placement {
        disk: false,
        replicas: 2,
        num_buckets: 4,
        ..Placement::default()
    };
    s.settle("q", 0, two).unwrap();
    assert_eq!(s.settings("q", 0), Some((two, true)));
    s.settle("q", 0, two).unwrap();
    let one = Placement { replicas: 1, ..two };
    let e = s.settle("q", 0, one).unwrap_err();
    assert_eq!(e.kind(), Some(RuntimeErrorKind::Config));
    assert!(
        e.to_string()
            .contains("kept with backend 'memory', replicas 2"),
        "{e}"
    );
    // Taken over whole: the placement goes with it, and beats an unsettled copy's.
    let taken = s.take("q", 0).unwrap();
    let t = QueueStore::default();
    t.install("q", 0, vec![]).unwrap();
    t.install("q", 0, vec![taken]).unwrap();
    assert_eq!(t.settings("q", 0), Some((two, true)));
    t.install("q", 0, vec![copy_of(&["x"], 3)]).unwrap();
    assert_eq!(t.settings("q", 0), Some((two, true)));
}

#[test]
fn a_copy_read_back_after_a_crash_gives_way_to_the_live_lineage_where_they_part() {
    let two = Placement {
        disk: false,
        replicas: 2,
        num_buckets: 4,
        ..Placement::default()
    };
    let copy = |records: &[&'static str], recovered: bool| Snapshot {
        recovered,
        settled: true,
        placement: two,
        ..copy_of(records, 7)
    };
    // The live owner (the old replica) went on; the crashed owner's disk ends with a record
    // it stored but never had acknowledged ("x").
    let live = QueueStore::default();
    live.install("q", 0, vec![copy(&["a", "b", "c", "d"], false)])
        .unwrap();
    live.install("q", 0, vec![copy(&["a", "b", "x"], true)])
        .unwrap();
    assert_eq!(live.read("q", 0, 0, 10).0, recs(&["a", "b", "c", "d"]));
    // The bucket's new owner takes both copies over at once, in either order.
    for copies in [
        vec![
            copy(&["a", "b", "x"], true),
            copy(&["a", "b", "c", "d"], false),
        ],
        vec![
            copy(&["a", "b", "c", "d"], false),
            copy(&["a", "b", "x"], true),
        ],
    ] {
        let owner = QueueStore::default();
        owner.install("q", 0, copies).unwrap();
        assert_eq!(owner.read("q", 0, 0, 10).0, recs(&["a", "b", "c", "d"]));
    }
    // Two live copies that parted ways (views of the members disagreed): both tails kept.
    let both = QueueStore::default();
    both.install("q", 0, vec![copy(&["a", "y"], false)])
        .unwrap();
    both.install("q", 0, vec![copy(&["a", "z"], false)])
        .unwrap();
    assert_eq!(both.read("q", 0, 0, 10).0, recs(&["a", "y", "z"]));
    // Kept once: a crashed copy's tail is kept too (it may have been acknowledged).
    let once = QueueStore::default();
    let one = Snapshot {
        placement: Placement::default(),
        ..copy(&["a", "y"], false)
    };
    once.install("q", 0, vec![one]).unwrap();
    once.install(
        "q",
        0,
        vec![Snapshot {
            placement: Placement::default(),
            ..copy(&["a", "z"], true)
        }],
    )
    .unwrap();
    assert_eq!(once.read("q", 0, 0, 10).0, recs(&["a", "y", "z"]));
}

#[test]
fn a_bucket_handed_over_as_a_copy_goes_only_if_it_did_not_grow() {
    let s = QueueStore::default();
    s.install("q", 0, vec![]).unwrap();
    s.append("q", 0, recs(&["a"])).unwrap();
    assert!(!s.take_if_end("q", 0, 0), "it has more than the copy");
    assert!(s.holds("q", 0));
    assert!(s.take_if_end("q", 0, 1));
    assert!(!s.holds("q", 0));
    assert!(!s.take_if_end("q", 0, 1), "gone already");
}

async fn give(s: &QueueStore, q: &str, b: u32, group: &str, n: usize) -> Vec<u64> {
    s.group_get(q, b, group, n, Duration::from_secs(30), Duration::ZERO, 0)
        .await
        .unwrap()
        .give
        .into_iter()
        .map(|g| g.0)
        .collect()
}

#[tokio::test]
async fn trim_acked_drops_what_every_group_acknowledged_and_offsets_keep_their_meaning() {
    let s = QueueStore::default();
    s.install("q", 0, vec![]).unwrap();
    let p = Placement {
        trim_acked: true,
        ..Placement::default()
    };
    s.settle("q", 0, p).unwrap();
    s.append("q", 0, recs(&["a", "b", "c", "d", "e"])).unwrap();
    let now = std::time::SystemTime::now();
    assert_eq!(s.trim(now), 0, "no group: nothing is acknowledged by all");
    assert_eq!(give(&s, "q", 0, "g1", 3).await, vec![0, 1, 2]);
    assert_eq!(give(&s, "q", 0, "g2", 1).await, vec![0]);
    s.group_ack("q", 0, "g1", &[0, 1, 2]).unwrap();
    s.group_ack("q", 0, "g2", &[0]).unwrap();
    assert_eq!(*s.bytes.lock(), 5);
    assert_eq!(s.trim(now), 1, "below the slower group only");
    s.group_ack("q", 0, "g2", &[]).unwrap();
    assert_eq!(give(&s, "q", 0, "g2", 2).await, vec![1, 2]);
    s.group_ack("q", 0, "g2", &[1, 2]).unwrap();
    assert_eq!(s.trim(now), 2);
    assert_eq!(
        *s.bytes.lock(),
        2,
        "the trimmed records' memory is given back"
    );
    // A plain reader from the start reads on from the first record kept; offsets stay.
    assert_eq!(s.read("q", 0, 0, 10), (recs(&["d", "e"]), 5));
    assert_eq!(s.read("q", 0, 4, 10), (recs(&["e"]), 5));
    assert_eq!(s.append("q", 0, recs(&["f"])).unwrap().0, 5);
    // A group that comes later starts at the first record kept.
    assert_eq!(give(&s, "q", 0, "late", 10).await, vec![3, 4, 5]);
    let st = &s.stats()[0];
    assert_eq!((st.first, st.records, st.bytes), (3, 3, 3));
    assert_eq!(
        st.groups[0].lag, 3,
        "g1's lag counts from its commit to the end"
    );
}

#[tokio::test]
async fn retain_ms_expires_old_records_whether_acknowledged_or_not() {
    let s = QueueStore::default();
    s.install("q", 0, vec![]).unwrap();
    let p = Placement {
        retain_ms: 1000,
        ..Placement::default()
    };
    s.settle("q", 0, p).unwrap();
    s.append("q", 0, recs(&["a", "b"])).unwrap();
    assert_eq!(give(&s, "q", 0, "g", 1).await, vec![0]);
    let t0 = std::time::SystemTime::now();
    assert_eq!(
        s.trim(t0 + Duration::from_millis(500)),
        0,
        "younger than 1 s"
    );
    assert_eq!(s.trim(t0 + Duration::from_millis(1200)), 2);
    assert_eq!(s.read("q", 0, 0, 10), (vec![], 2));
    // The group's unacknowledged record expired with the rest: it reads on from there.
    s.append("q", 0, recs(&["c"])).unwrap();
    assert_eq!(give(&s, "q", 0, "g", 10).await, vec![2]);
    assert_eq!(s.trim(std::time::SystemTime::now()), 0, "c is young");
    // Records appended now and later than the step keep their own times: the older go first.
    let mut t = Times::default();
    t.appended(10, 1_000, 1000);
    t.appended(20, 1_050, 1000); // within a step of the first: moves the last entry
    t.appended(30, 1_200, 1000);
    t.appended(40, 1_250, 1000);
    assert_eq!(t.0.keys().copied().collect::<Vec<_>>(), vec![10, 30, 40]);
    assert_eq!(t.before(999), 0);
    assert_eq!(
        t.before(1_100),
        10,
        "20 was appended at 1 050 but is said at 1 200"
    );
    assert_eq!(t.before(1_250), 40);
}

#[tokio::test]
async fn trimmed_copies_merge_by_absolute_offset_and_a_replica_trims_as_its_owner() {
    let p = Placement {
        replicas: 2,
        trim_acked: true,
        ..Placement::default()
    };
    let at = |base: u64, records: &[&'static str]| Snapshot {
        base,
        settled: true,
        placement: p,
        ..copy_of(records, 7)
    };
    // Here trimmed to 3; a copy from 0 (the old replica, not trimmed yet) adds nothing.
    let s = QueueStore::default();
    s.install("q", 0, vec![at(3, &["d", "e"])]).unwrap();
    s.install("q", 0, vec![at(0, &["a", "b", "c", "d", "e"])])
        .unwrap();
    assert_eq!(s.read("q", 0, 0, 10), (recs(&["d", "e"]), 5));
    // A copy that goes on further adds only its tail, at its offsets.
    s.install("q", 0, vec![at(1, &["b", "c", "d", "e", "f"])])
        .unwrap();
    assert_eq!(s.read("q", 0, 0, 10), (recs(&["d", "e", "f"]), 6));
    // A copy trimmed past all this one has: this one starts where it starts.
    s.install("q", 0, vec![at(8, &["i"])]).unwrap();
    assert_eq!(s.read("q", 0, 0, 10), (recs(&["i"]), 9));
    assert_eq!(*s.bytes.lock(), 1);

    // A replica drops what its owner trimmed, and takes its records at their offsets.
    let r = QueueStore::default();
    let none = BTreeMap::new();
    let nb = BTreeMap::new();
    let rep = |base, from, v: &[&'static str]| {
        r.replicate("q", 0, base, from, recs(v), 7, p, &none, &nb)
            .unwrap()
            .0
    };
    assert_eq!(rep(0, 0, &["a", "b", "c"]), 3);
    assert_eq!(rep(2, 3, &["d"]), 4);
    assert_eq!(*r.bytes.lock(), 2, "a and b trimmed");
    // Behind the owner's base entirely (it was away): it starts at the owner's base.
    assert_eq!(rep(9, 9, &["j"]), 10);
    r.install("q", 0, vec![]).unwrap();
    assert_eq!(r.read("q", 0, 0, 10), (recs(&["j"]), 10));
    // Offsets from another node near u64::MAX are refused, not wrapped.
    let Err(e) = r.replicate("q", 1, u64::MAX, 0, vec![], 7, p, &none, &nb) else {
        panic!("an offset past the largest was taken");
    };
    assert_eq!(e.kind(), Some(RuntimeErrorKind::Protocol));
    r.install("q", 0, vec![at(u64::MAX - 1, &["z"])]).unwrap();
    assert_eq!(
        r.read("q", 0, 0, 10),
        (recs(&["j"]), 10),
        "that copy is ignored"
    );
}

#[tokio::test]
async fn a_trimmed_disk_bucket_comes_back_from_where_it_was_trimmed_and_its_log_is_compacted() {
    let root = std::env::temp_dir().join(format!("pulsing-trim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let p = Placement {
        disk: true,
        trim_acked: true,
        num_buckets: 1,
        ..Placement::default()
    };
    let big = |c: u8| Bytes::from(vec![c; 300 * 1024]);
    let log_len = || {
        std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|d| d.file_name().to_string_lossy().starts_with("q-"))
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
            .map(|f| f.metadata().unwrap().len())
            .sum::<u64>()
    };
    {
        let s = QueueStore::at(&root);
        s.install("q", 0, vec![]).unwrap();
        s.settle("q", 0, p).unwrap();
        let (_, sync) = s
            .append("q", 0, vec![big(1), big(2), big(3), big(4), big(5)])
            .unwrap();
        synced(sync).await.unwrap();
        assert_eq!(give(&s, "q", 0, "g", 2).await, vec![0, 1]);
        s.group_ack("q", 0, "g", &[0, 1]).unwrap();
        let before = log_len();
        assert_eq!(s.trim(std::time::SystemTime::now()), 2);
        assert_eq!(
            log_len(),
            before,
            "600 KiB trimmed: written in the metadata only"
        );
    }
    {
        let s = QueueStore::at(&root);
        assert_eq!(s.recover().unwrap(), 1);
        s.install("q", 0, vec![]).unwrap();
        let (r, next) = s.read("q", 0, 0, 10);
        assert_eq!((r.len(), r[0][0], next), (3, 3, 5), "from offset 2 on");
        assert_eq!(*s.bytes.lock(), 3 * 300 * 1024);
        assert_eq!(give(&s, "q", 0, "g", 10).await, vec![2, 3, 4]);
        s.group_ack("q", 0, "g", &[2, 3]).unwrap();
        assert_eq!(s.trim(std::time::SystemTime::now()), 2);
        assert!(
            log_len() < 400 * 1024,
            "1.2 MiB trimmed, more than kept: the log is rewritten without them"
        );
        let (_, sync) = s.append("q", 0, vec![big(6)]).unwrap();
        synced(sync).await.unwrap();
    }
    let s = QueueStore::at(&root);
    s.recover().unwrap();
    s.install("q", 0, vec![]).unwrap();
    let (r, next) = s.read("q", 0, 0, 10);
    assert_eq!(
        (r.iter().map(|x| x[0]).collect::<Vec<_>>(), next),
        (vec![5, 6], 6)
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&root);
}
