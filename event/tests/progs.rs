//! Events of traced tc/XDP programs and their helpers: the FUNC column, the cb column and the JSON keys.

use event::{Event, FuncKind, JsonEvent, JsonFormatter, OutputOptions, TextFormatter, Verdict};

fn tc_exit() -> Event {
    Event {
        skb: 0xffff888004a1b200,
        process: "<idle>:0".into(),
        netns: 4026531840,
        ifindex: 12,
        proto: 0x0800,
        mtu: 1500,
        len: 98,
        func: "cil_from_container".into(),
        func_kind: FuncKind::Tc,
        prog_id: Some(812),
        verdict: Some(Verdict::tc(2)),
        cb: Some([0x3039, 0, 0xa00, 0, 1]),
        ..Default::default()
    }
}

#[test]
fn verdict_names() {
    let n = |v: Verdict| (v.name, v.drop);
    assert_eq!(n(Verdict::tc(-1)), (Some("TC_ACT_UNSPEC".into()), false));
    assert_eq!(n(Verdict::tc(0)), (Some("TC_ACT_OK".into()), false));
    assert_eq!(n(Verdict::tc(2)), (Some("TC_ACT_SHOT".into()), true));
    assert_eq!(n(Verdict::tc(7)), (Some("TC_ACT_REDIRECT".into()), false));
    assert_eq!(n(Verdict::tc(99)), (None, false));
    assert_eq!(n(Verdict::xdp(0)), (Some("XDP_ABORTED".into()), true));
    assert_eq!(n(Verdict::xdp(1)), (Some("XDP_DROP".into()), true));
    assert_eq!(n(Verdict::xdp(2)), (Some("XDP_PASS".into()), false));
    assert_eq!(n(Verdict::xdp(4)), (Some("XDP_REDIRECT".into()), false));
    assert_eq!(n(Verdict::xdp(-3)), (None, false));
}

#[test]
fn func_column() {
    let mut e = tc_exit();
    assert_eq!(e.func_display(), "cil_from_container(tc)=TC_ACT_SHOT");
    e.verdict = None;
    assert_eq!(e.func_display(), "cil_from_container(tc)");
    e.func_kind = FuncKind::Xdp;
    e.verdict = Some(Verdict::xdp(42));
    assert_eq!(e.func_display(), "cil_from_container(xdp)=42");
    let helper = Event {
        func: "bpf_skb_load_bytes".into(),
        func_kind: FuncKind::Kprobe,
        in_prog: Some("tail_ipv4_policy".into()),
        prog_id: Some(812),
        ..Default::default()
    };
    assert_eq!(helper.func_display(), "bpf_skb_load_bytes@tail_ipv4_policy");
}

#[test]
fn cb_column_follows_the_metadata_as_in_pwru() {
    let opts = OutputOptions {
        skb_cb: true,
        ..Default::default()
    };
    let mut f = TextFormatter::new(opts);
    let header = f.header();
    let line = f.format(&tc_exit());
    let at = header.find("__sk_buff->cb[]").unwrap();
    assert!(header[..at].ends_with("LEN   "), "{header}");
    assert_eq!(
        &line[at..at + 56],
        "[0x00003039,0x00000000,0x00000A00,0x00000000,0x00000001]"
    );
    // The tuple column starts at the same place with and without cb words (XDP events have none).
    let tuple = header.find("TUPLE").unwrap();
    let mut xdp = tc_exit();
    xdp.cb = None;
    let l2 = f.format(&xdp);
    assert_eq!(&l2[at..at + 2], "- ");
    assert_eq!(&line[tuple..tuple + 2], "- ");
    assert_eq!(&l2[tuple..tuple + 2], "- ");
    // Off: no column.
    let plain = TextFormatter::new(OutputOptions::default());
    assert!(!plain.header().contains("cb[]"));
}

#[test]
fn json_keys() {
    let opts = OutputOptions {
        skb_cb: true,
        ..Default::default()
    };
    let line = JsonFormatter::new(opts).format(&tc_exit());
    let j: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(j["func"], "cil_from_container");
    assert_eq!(j["func_kind"], "tc");
    assert_eq!(j["prog_id"], 812);
    assert_eq!(
        j["verdict"],
        serde_json::json!({"code": 2, "name": "TC_ACT_SHOT", "drop": true})
    );
    assert_eq!(j["cb"], serde_json::json!([12345, 0, 2560, 0, 1]));
    let back: JsonEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(back.verdict, Some(Verdict::tc(2)));
    assert!(back.annotations.is_empty());
    // Without --output-skb-cb the words stay out of the JSON too.
    let line = JsonFormatter::new(OutputOptions::default()).format(&tc_exit());
    assert!(!line.contains("\"cb\""), "{line}");
}
