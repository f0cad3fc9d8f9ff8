//! Reading the server's replies: stream entries into [`Item`]s.

use crate::Item;
use redis::Value;

/// Text of a bulk or simple string.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// An entry from its fields: `baozi` = `SEQ PID PRODUCER\nPAYLOAD`, as the put script
/// writes it, or `producer`, `seq`, `payload` as separate fields (a flat list).
fn item(id: String, attempt: u32, fields: Vec<Value>) -> Result<Item, String> {
    let mut it = Item {
        id,
        producer: String::new(),
        seq: u64::MAX,
        payload: Vec::new(),
        attempt,
    };
    let mut f = fields.into_iter();
    while let (Some(k), Some(v)) = (f.next(), f.next()) {
        match text(&k).as_deref() {
            Some("baozi") => {
                if let Value::BulkString(b) = v {
                    unpack(&mut it, b);
                }
            }
            Some("producer") => it.producer = text(&v).unwrap_or_default(),
            Some("seq") => it.seq = number(&v).unwrap_or(u64::MAX),
            Some("payload") => {
                if let Value::BulkString(b) = v {
                    it.payload = b;
                }
            }
            _ => {}
        }
    }
    if it.producer.is_empty() || it.seq == u64::MAX {
        return Err(format!(
            "entry {} of the stream is not a baozi (no producer or seq field)",
            it.id
        ));
    }
    Ok(it)
}

/// `SEQ PID PRODUCER\nPAYLOAD` into `it` (a name has no control characters, so the first
/// newline ends the head); anything else leaves `it` unnamed, to be refused.
fn unpack(it: &mut Item, mut b: Vec<u8>) {
    let Some(nl) = b.iter().position(|&c| c == b'\n') else {
        return;
    };
    let Ok(head) = std::str::from_utf8(&b[..nl]) else {
        return;
    };
    let mut parts = head.splitn(3, ' ');
    let (Some(seq), Some(_pid), Some(producer)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(seq) = seq.parse() else {
        return;
    };
    it.seq = seq;
    it.producer = producer.to_owned();
    b.drain(..=nl);
    it.payload = b;
}

/// XREADGROUP's reply: nil, or `[[stream, [[id, fields]...]]]`.
pub(crate) fn parse_read(reply: Value) -> Result<Vec<Item>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(s) => s,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => return Err(format!("XREADGROUP answered {other:?}")),
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(pair) = s else {
            return Err("XREADGROUP: a stream is not a pair".into());
        };
        let Some(Value::Array(list)) = pair.into_iter().nth(1) else {
            return Err("XREADGROUP: no entries list".into());
        };
        for e in list {
            let Value::Array(e) = e else {
                return Err("XREADGROUP: an entry is not a pair".into());
            };
            let mut e = e.into_iter();
            let id = e
                .next()
                .as_ref()
                .and_then(text)
                .ok_or("XREADGROUP: no id")?;
            match e.next() {
                Some(Value::Array(fields)) => out.push(item(id, 1, fields)?),
                _ => return Err(format!("XREADGROUP: entry {id} has no fields")),
            }
        }
    }
    Ok(out)
}

/// The reclaim script's lists: `[[id, deliveries, fields]...]`.
pub(crate) fn entries(v: Value) -> Result<Vec<Item>, String> {
    let Value::Array(list) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in list {
        let Value::Array(e) = e else {
            return Err("XAUTOCLAIM: an entry is not a list".into());
        };
        let mut e = e.into_iter();
        let (Some(id), Some(n), Some(Value::Array(fields))) = (e.next(), e.next(), e.next()) else {
            return Err("XAUTOCLAIM: an entry lacks its id, count or fields".into());
        };
        let id = text(&id).ok_or("XAUTOCLAIM: an id is not text")?;
        let n = number(&n).map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
        out.push(item(id, n, fields)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_strangers_are_refused() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("1-0"),
                Value::Array(vec![
                    b("producer"),
                    b("p1"),
                    b("pid"),
                    b("7"),
                    b("seq"),
                    b("3"),
                    b("payload"),
                    b("xx"),
                ]),
            ])]),
        ])]);
        let items = parse_read(reply).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            (items[0].producer.as_str(), items[0].seq, items[0].attempt),
            ("p1", 3, 1)
        );
        assert_eq!(items[0].payload, b"xx");
        assert!(parse_read(Value::Nil).unwrap().is_empty());
        let packed = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("3-0"),
                Value::Array(vec![b("baozi"), b("12 7 p 2\nab\ncd")]),
            ])]),
        ])]);
        let items = parse_read(packed).unwrap();
        assert_eq!(
            (
                items[0].producer.as_str(),
                items[0].seq,
                &items[0].payload[..]
            ),
            ("p 2", 12, &b"ab\ncd"[..])
        );
        let garbled = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("4-0"),
                Value::Array(vec![b("baozi"), b("twelve 7 p\n")]),
            ])]),
        ])]);
        assert!(parse_read(garbled).unwrap_err().contains("not a baozi"));
        let stranger = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("2-0"),
                Value::Array(vec![b("hello"), b("world")]),
            ])]),
        ])]);
        assert!(parse_read(stranger).unwrap_err().contains("not a baozi"));
    }
}
