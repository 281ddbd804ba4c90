//! Packet bytes in JSON: `"packet": {"start", "orig_len", "data" (hex)}` when an event carries them, no key when
//! it does not; the line reads back into the same bytes.
use event::{Event, JsonEvent, JsonFormatter, OutputOptions, Packet, PacketStart};

#[test]
fn packet_bytes_are_hex_in_json_and_absent_without_them() {
    let mut json = JsonFormatter::new(OutputOptions::default());
    let plain = Event::default();
    let line = json.format(&plain);
    assert!(!line.contains("packet"), "{line}");

    let ev = Event {
        packet: Some(Packet {
            start: PacketStart::L3,
            orig_len: 84,
            data: vec![0x45, 0x00, 0x00, 0x54, 0xab],
        }),
        ..Default::default()
    };
    let line = json.format(&ev);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["packet"],
        serde_json::json!({"start": "l3", "orig_len": 84, "data": "45000054ab"})
    );
    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(back.packet.unwrap().data, "45000054ab");
    assert!(back.annotations.is_empty(), "packet is no annotation");
}
