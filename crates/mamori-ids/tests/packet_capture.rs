//! Capture files: pcap and pcapng round trips, and damaged files that stop with the packet
//! index and byte offset after every good packet was read.

use mamori_ids::capture::write::PcapOptions;
use mamori_ids::capture::{
    CaptureError, CaptureFormat, CaptureReader, PcapNgWriter, PcapWriter, TcpSession,
};
use mamori_ids::decode::{LINKTYPE_ETHERNET, LINKTYPE_RAW};

fn session() -> Vec<(u64, Vec<u8>)> {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80))
        .starting_at(1_700_000_000_123_456);
    s.handshake()
        .client_sends(b"GET / HTTP/1.1\r\n\r\n")
        .close();
    s.take_packets()
}

type Read = (u64, u64, u64, u32, Vec<u8>);

fn read_all(bytes: &[u8]) -> (Vec<Read>, Option<CaptureError>) {
    let mut r = CaptureReader::from_reader(bytes).expect("header");
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.index, p.offset, p.ts_us, p.linktype, p.data.to_vec())),
            Ok(None) => return (out, None),
            Err(e) => {
                assert!(
                    r.next_packet().expect("after error").is_none(),
                    "reading stops after an error"
                );
                return (out, Some(e));
            }
        }
    }
}

#[test]
fn pcap_round_trips_in_both_byte_orders_and_resolutions() {
    let pkts = session();
    for big_endian in [false, true] {
        for nanos in [false, true] {
            let opts = PcapOptions {
                big_endian,
                nanos,
                ..PcapOptions::default()
            };
            let mut w = PcapWriter::with_options(Vec::new(), opts).expect("writer");
            w.write_all(&pkts).expect("write");
            let bytes = w.into_inner().expect("bytes");
            let r = CaptureReader::from_reader(&bytes[..]).expect("header");
            assert_eq!(r.format(), CaptureFormat::Pcap { nanos, big_endian });
            assert_eq!(r.linktype(), LINKTYPE_ETHERNET);
            let (read, err) = read_all(&bytes);
            assert!(err.is_none());
            assert_eq!(read.len(), pkts.len());
            let mut offset = 24;
            for (i, ((idx, off, ts, lt, data), (wts, wdata))) in read.iter().zip(&pkts).enumerate()
            {
                assert_eq!(*idx, i as u64);
                assert_eq!(*off, offset);
                assert_eq!(ts, wts);
                assert_eq!(*lt, LINKTYPE_ETHERNET);
                assert_eq!(data, wdata);
                offset += 16 + wdata.len() as u64;
            }
        }
    }
}

#[test]
fn pcap_file_opens_from_disk_and_missing_file_names_the_path() {
    let dir = mamori_core::scratch::dir("packet-capture");
    let path = dir.join("a.pcap");
    let mut w = PcapWriter::create(&path).expect("create");
    w.write_all(&session()).expect("write");
    w.flush().expect("flush");
    drop(w);
    let mut r = CaptureReader::open(&path).expect("open");
    let mut n = 0;
    while r.next_packet().expect("read").is_some() {
        n += 1;
    }
    assert_eq!(n, session().len());
    let missing = dir.join("missing.pcap");
    let err = CaptureReader::open(&missing).err().expect("error");
    assert!(err.to_string().contains("missing.pcap"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_pcap_yields_earlier_packets_then_names_index_and_offset() {
    let pkts = session();
    let mut w = PcapWriter::new(Vec::new()).expect("writer");
    w.write_all(&pkts[..3]).expect("write");
    let bytes = w.into_inner().expect("bytes");
    let third = 24 + 2 * 16 + (pkts[0].1.len() + pkts[1].1.len()) as u64;
    // Cut inside the third packet's data, then inside its record header.
    for cut in [bytes.len() - 5, third as usize + 7] {
        let (read, err) = read_all(&bytes[..cut]);
        assert_eq!(read.len(), 2);
        match err {
            Some(CaptureError::Truncated { index, offset }) => {
                assert_eq!((index, offset), (2, third));
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }
    let err = CaptureReader::from_reader(&bytes[..10])
        .err()
        .expect("short header");
    assert!(
        matches!(
            err,
            CaptureError::Truncated {
                index: 0,
                offset: 0
            }
        ),
        "{err}"
    );
}

#[test]
fn corrupt_record_length_is_reported_without_allocating_it() {
    let pkts = session();
    let mut w = PcapWriter::new(Vec::new()).expect("writer");
    w.write_all(&pkts[..3]).expect("write");
    let mut bytes = w.into_inner().expect("bytes");
    let second = 24 + 16 + pkts[0].1.len();
    bytes[second + 8..second + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (read, err) = read_all(&bytes);
    assert_eq!(read.len(), 1);
    match err {
        Some(e @ CaptureError::Corrupt { .. }) => {
            assert_eq!(e.index(), Some(1));
            assert_eq!(e.offset(), Some(second as u64));
            assert!(e.to_string().contains("packet 1"), "{e}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
}

#[test]
fn unknown_format_is_rejected() {
    let err = CaptureReader::from_reader(&b"GIF89a..........................."[..])
        .err()
        .expect("error");
    assert!(matches!(err, CaptureError::UnknownFormat { .. }));
}

/// (timestamp µs, interface, frame) of each packet written.
type Written = Vec<(u64, u32, Vec<u8>)>;

fn pcapng_file(big_endian: bool) -> (Vec<u8>, Written) {
    let pkts = session();
    let raw =
        mamori_ids::capture::PacketBuilder::udp(([10, 0, 0, 9], 5353), ([224, 0, 0, 251], 5353))
            .payload(b"mdns")
            .raw_ip()
            .build();
    let mut w = PcapNgWriter::new(Vec::new(), big_endian).expect("writer");
    let eth = w.add_interface(1, None).expect("idb");
    let raw_if = w.add_interface(101, Some(9)).expect("idb ns");
    let bin_if = w.add_interface(1, Some(0x80 | 20)).expect("idb 2^-20");
    let mut expect = Vec::new();
    w.write_block(0x0000_0004, b"name resolution block the reader skips")
        .expect("nrb");
    w.write_epb(eth, pkts[0].0, &pkts[0].1).expect("epb");
    expect.push((pkts[0].0, LINKTYPE_ETHERNET, pkts[0].1.clone()));
    w.write_epb(raw_if, 1_700_000_001_000_001, &raw)
        .expect("epb ns");
    expect.push((1_700_000_001_000_001, LINKTYPE_RAW, raw.clone()));
    w.write_epb(bin_if, pkts[1].0, &pkts[1].1).expect("epb bin");
    expect.push((pkts[1].0, LINKTYPE_ETHERNET, pkts[1].1.clone()));
    w.write_opb(0, pkts[2].0, &pkts[2].1).expect("opb");
    expect.push((pkts[2].0, LINKTYPE_ETHERNET, pkts[2].1.clone()));
    w.write_spb(&pkts[3].1).expect("spb");
    // A simple packet block has no timestamp: the previous packet's time is kept.
    expect.push((pkts[2].0, LINKTYPE_ETHERNET, pkts[3].1.clone()));
    // A second section with a single raw-IP interface.
    w.section().expect("shb");
    let again = w.add_interface(101, None).expect("idb");
    w.write_epb(again, 1_700_000_002_000_000, &raw)
        .expect("epb");
    expect.push((1_700_000_002_000_000, LINKTYPE_RAW, raw));
    (w.into_inner().expect("bytes"), expect)
}

#[test]
fn pcapng_round_trips_interfaces_resolutions_and_block_kinds() {
    for big_endian in [false, true] {
        let (bytes, expect) = pcapng_file(big_endian);
        let r = CaptureReader::from_reader(&bytes[..]).expect("header");
        assert_eq!(r.format(), CaptureFormat::PcapNg);
        let (read, err) = read_all(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(read.len(), expect.len());
        for ((idx, _, ts, lt, data), (ets, elt, edata)) in read.iter().zip(&expect) {
            // 2^-20 s units cannot hold every microsecond exactly.
            assert!(ts.abs_diff(*ets) <= 1, "packet {idx}: {ts} vs {ets}");
            assert_eq!((lt, data), (elt, edata), "packet {idx}");
        }
    }
}

#[test]
fn truncated_and_corrupt_pcapng_name_the_block() {
    let (bytes, expect) = pcapng_file(false);
    let (all, _) = read_all(&bytes);
    let last_offset = all.last().map(|p| p.1).expect("packets");
    let (read, err) = read_all(&bytes[..bytes.len() - 3]);
    assert_eq!(read.len(), expect.len() - 1);
    match err {
        Some(CaptureError::Truncated { index, offset }) => {
            assert_eq!(index, expect.len() as u64 - 1);
            assert_eq!(offset, last_offset);
        }
        other => panic!("expected truncation, got {other:?}"),
    }
    // Captured length larger than the block that holds it.
    let mut bad = bytes.clone();
    let at = last_offset as usize + 20;
    bad[at..at + 4].copy_from_slice(&60_000u32.to_le_bytes());
    let (read, err) = read_all(&bad);
    assert_eq!(read.len(), expect.len() - 1);
    assert!(matches!(err, Some(CaptureError::Corrupt { .. })), "{err:?}");
    // Block length that is not a multiple of four.
    let mut bad = bytes;
    let at = last_offset as usize + 4;
    bad[at..at + 4].copy_from_slice(&0x0fff_fff1u32.to_le_bytes());
    let (_, err) = read_all(&bad);
    assert!(matches!(err, Some(CaptureError::Corrupt { .. })), "{err:?}");
}
