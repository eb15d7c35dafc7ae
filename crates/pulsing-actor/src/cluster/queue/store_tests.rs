//! Tests of the queue store: offsets, merges by origin, replicas, disk recovery.

use super::*;

fn recs(v: &[&'static str]) -> Vec<Bytes> {
    v.iter().map(|s| Bytes::from_static(s.as_bytes())).collect()
}

fn copy_of(records: &[&'static str], origin: u64) -> Snapshot {
    Snapshot {
        records: records
            .iter()
            .map(|r| serde_bytes::ByteBuf::from(r.as_bytes().to_vec()))
            .collect(),
        origin,
        placement: Placement::default(),
        settled: false,
        recovered: false,
        not_before: BTreeMap::new(),
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
    };
    let none = BTreeMap::new();
    assert_eq!(
        s.replicate("q", 0, 2, recs(&["c"]), 7, p, &none, &BTreeMap::new())
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
        s.replicate("q", 0, 1, recs(&["x"]), 7, p, &none, &BTreeMap::new())
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
        .replicate("q", 0, 2, vec![], 7, p, &none, &BTreeMap::new())
        .is_err());
    let r = QueueStore::default();
    r.replicate("q", 1, 0, vec![], 7, p, &none, &BTreeMap::new())
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
    assert!(!s.take_if_len("q", 0, 0), "it has more than the copy");
    assert!(s.holds("q", 0));
    assert!(s.take_if_len("q", 0, 1));
    assert!(!s.holds("q", 0));
    assert!(!s.take_if_len("q", 0, 1), "gone already");
}
