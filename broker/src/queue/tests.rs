//! The queue's unit tests: the state machine driven directly, its accounting checked
//! after every step.
use super::*;

fn queue(capacity: usize, max_deliveries: u32, producers: u64) -> Queue {
    Queue::new(Config {
        capacity,
        max_deliveries,
        producers,
        max_held: 1024,
        reply_bytes: 1 << 20,
        lease: Duration::from_secs(30),
    })
}

const T0: Duration = Duration::ZERO;

fn seqs(d: &[Delivery]) -> Vec<u64> {
    d.iter().map(|d| d.seq).collect()
}

/// The invariant: every item taken in is ready, leased, acknowledged or dead.
fn check_accounting(q: &Queue) {
    let s = q.status();
    assert_eq!(
        s.received,
        s.queued + s.leased + s.acknowledged + s.dead,
        "{s:?}"
    );
    let leases: usize = q.consumers.iter().map(|c| c.leases.len()).sum();
    assert_eq!(leases as u64, s.leased);
}

#[test]
fn items_go_out_in_order_and_one_ack_covers_a_batch() {
    let mut q = queue(100, 5, 1);
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..5 {
        assert!(q.put(p, seq, vec![]));
    }
    let c = q.join_consumer("c1", T0);
    let got = q.take(c, 3);
    assert_eq!(seqs(&got), [0, 1, 2]);
    assert_eq!(got.iter().map(|d| d.tag).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(got.iter().all(|d| d.attempt == 1 && &*d.producer == "p1"));
    assert_eq!(q.leased_by(c), 3);
    assert_eq!(q.ack(c, 2), Ok(2));
    assert_eq!(q.leased_by(c), 1);
    assert_eq!(q.ack(c, 2), Ok(0), "acknowledging again changes nothing");
    assert_eq!(q.ack(c, 4), Err(QueueError::AckBeyond { ack: 4, last: 3 }));
    check_accounting(&q);
}

#[test]
fn a_full_queue_refuses_puts_until_an_item_is_taken() {
    let mut q = queue(2, 5, 0);
    let p = q.join_producer("p1", 1).unwrap();
    assert!(q.put(p, 0, vec![]) && q.put(p, 1, vec![]));
    assert!(!q.has_room());
    assert!(!q.put(p, 2, vec![]));
    assert_eq!(q.status().received, 2);
    let c = q.join_consumer("c1", T0);
    q.take(c, 1);
    assert!(q.has_room() && q.put(p, 2, vec![]));
    check_accounting(&q);
}

#[test]
fn a_gone_consumers_leases_go_first_to_the_next_one_marked_as_redeliveries() {
    let mut q = queue(100, 5, 1);
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..6 {
        q.put(p, seq, vec![seq as u8]);
    }
    let (c1, c2) = (q.join_consumer("c1", T0), q.join_consumer("c2", T0));
    assert_eq!(seqs(&q.take(c1, 4)), [0, 1, 2, 3]);
    q.ack(c1, 1).unwrap(); // ate item 0
    assert_eq!(q.consumer_gone(c1), (3, vec![]));
    check_accounting(&q);
    let again = q.take(c2, 10);
    assert_eq!(
        seqs(&again),
        [1, 2, 3, 4, 5],
        "given back first, in their order"
    );
    assert_eq!(
        again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [2, 2, 2, 1, 1]
    );
    assert_eq!(again[0].payload, [1]);
    assert_eq!(q.status().redelivered, 3);
    q.ack(c2, 5).unwrap();
    assert_eq!((q.eaten_by(c1), q.eaten_by(c2)), (1, 5));
    check_accounting(&q);
}

#[test]
fn an_item_that_outlives_max_deliveries_is_dead_and_the_run_still_ends() {
    let mut q = queue(100, 3, 1);
    let p = q.join_producer("p1", 1).unwrap();
    q.put(p, 0, vec![]);
    q.put(p, 1, vec![]);
    q.end_producer(p);
    // The poison item kills every consumer it reaches.
    for round in 1..=3 {
        let c = q.join_consumer("c", T0);
        let got = q.take(c, 1);
        assert_eq!((got[0].seq, got[0].attempt), (0, round));
        let (_, dead) = q.consumer_gone(c);
        if round < 3 {
            assert!(dead.is_empty());
        } else {
            assert_eq!(
                dead,
                [Dead {
                    producer: "p1".into(),
                    seq: 0,
                    deliveries: 3
                }]
            );
        }
        check_accounting(&q);
    }
    assert_eq!(q.totals().dead, 1);
    assert!(!q.is_finished(), "item 1 is still ready");
    let c = q.join_consumer("c", T0);
    assert_eq!(seqs(&q.take(c, 5)), [1]);
    q.ack(c, 1).unwrap();
    assert!(q.is_finished());
    check_accounting(&q);
}

#[test]
fn the_run_ends_only_when_every_expected_producer_is_gone_and_all_is_acknowledged() {
    let mut q = queue(100, 5, 2);
    let p1 = q.join_producer("p1", 1).unwrap();
    q.put(p1, 0, vec![]);
    q.end_producer(p1);
    let c = q.join_consumer("c1", T0);
    q.take(c, 1);
    q.ack(c, 1).unwrap();
    assert!(!q.is_finished(), "one producer has not come yet");
    let p2 = q.join_producer("p2", 2).unwrap();
    assert_eq!(
        q.join_producer("p3", 4),
        Err(QueueError::TooManyProducers { expected: 2 })
    );
    q.put(p2, 0, vec![]);
    q.cut_producer(p2); // killed: what it put stays
    assert!(q.producers_done() && !q.is_finished());
    q.take(c, 1);
    assert!(!q.is_finished(), "leased, not acknowledged");
    q.ack(c, 2).unwrap();
    assert!(q.is_finished());
    let t = q.totals();
    assert_eq!(t.producers[1].stream, Stream::Cut);
    assert_eq!(t.consumers, [("c1".to_string(), 2)]);
    assert!(t.over(), "the totals tell the same end");
    check_accounting(&q);
}

#[test]
fn without_expected_producers_the_run_never_ends_by_itself() {
    let mut q = queue(100, 5, 0);
    let p = q.join_producer("p1", 1).unwrap();
    q.end_producer(p);
    assert!(!q.producers_done() && !q.is_finished());
}

#[test]
fn one_consumer_holds_at_most_max_held_and_all_leases_at_most_the_capacity() {
    let mut q = Queue::new(Config {
        max_held: 3,
        ..queue(5, 5, 0).config
    });
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..5 {
        q.put(p, seq, vec![]);
    }
    let (c1, c2) = (q.join_consumer("c1", T0), q.join_consumer("c2", T0));
    assert_eq!(q.take(c1, 10).len(), 3, "its own bound");
    assert!(q.take(c1, 10).is_empty(), "however often it asks");
    for seq in 5..8 {
        q.put(p, seq, vec![]);
    }
    assert_eq!(q.take(c2, 10).len(), 2, "all leases together: the capacity");
    assert_eq!(q.status().leased, 5);
    check_accounting(&q);
}

#[test]
fn a_reply_keeps_to_its_byte_budget_but_always_carries_one_item() {
    let mut q = Queue::new(Config {
        reply_bytes: 10,
        ..queue(100, 5, 0).config
    });
    let p = q.join_producer("p1", 1).unwrap();
    q.put(p, 0, vec![0; 25]);
    for seq in 1..5 {
        q.put(p, seq, vec![0; 4]);
    }
    let c = q.join_consumer("c1", T0);
    assert_eq!(seqs(&q.take(c, 10)), [0], "one item, whatever its size");
    assert_eq!(seqs(&q.take(c, 10)), [1, 2], "then as many as fit");
    check_accounting(&q);
}

#[test]
fn a_hand_out_that_never_left_is_not_a_delivery() {
    let mut q = queue(100, 1, 0);
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..3 {
        q.put(p, seq, vec![]);
    }
    let c = q.join_consumer("c1", T0);
    q.take(c, 1);
    let lost = q.take(c, 2);
    assert_eq!(q.untake(c, lost[0].tag), 2);
    let again = q.take(c, 5);
    assert_eq!(seqs(&again), [1, 2]);
    assert!(again.iter().all(|d| d.attempt == 1), "{again:?}");
    assert_eq!((q.status().redelivered, q.status().dead), (0, 0));
    check_accounting(&q);
}

#[test]
fn a_consumer_that_leaves_keeps_what_it_ate_and_gives_back_the_rest_undelivered() {
    let mut q = queue(100, 5, 0);
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..4 {
        q.put(p, seq, vec![]);
    }
    let (c1, c2) = (q.join_consumer("c1", T0), q.join_consumer("c2", T0));
    q.take(c1, 4);
    assert_eq!(q.leave(c1, 2), Ok((2, 2)));
    let rest = q.take(c2, 4);
    assert_eq!(seqs(&rest), [2, 3]);
    assert!(rest.iter().all(|d| d.attempt == 1));
    assert_eq!((q.status().redelivered, q.unsure()), (0, 0));
    assert_eq!(q.status().consumers, 1);
    check_accounting(&q);
}

#[test]
fn a_silent_consumers_leases_expire_and_its_requests_renew_them() {
    let s = Duration::from_secs;
    let mut q = queue(100, 5, 0);
    let p = q.join_producer("p1", 1).unwrap();
    for seq in 0..4 {
        q.put(p, seq, vec![]);
    }
    let (c1, c2) = (q.join_consumer("c1", T0), q.join_consumer("c2", T0));
    q.set_lease(c1, s(10));
    q.take(c1, 2);
    q.take(c2, 2);
    assert!(q.expire(s(10)).is_empty(), "not past its lease");
    q.renew(c1, s(8));
    assert!(q.expire(s(18)).is_empty(), "renewed at 8 s");
    let gone = q.expire(s(19));
    assert_eq!(gone.len(), 1, "c1's 10 s from its renewal: {gone:?}");
    assert_eq!((gone[0].consumer, gone[0].back), (c1, 2));
    let gone = q.expire(s(31));
    assert_eq!(gone.len(), 1, "c2's default lease (30 s) ran out: {gone:?}");
    assert_eq!(gone[0].consumer, c2);
    assert_eq!((q.ready(), q.unsure()), (4, 4));
    assert_eq!(q.ack(c1, 2), Ok(0), "a late acknowledgement counts nothing");
    let again = q.take(c2, 4);
    assert!(again.iter().all(|d| d.attempt == 2), "{again:?}");
    check_accounting(&q);
}
