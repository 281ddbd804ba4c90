//! Userspace throughput: RawEvents decoded, enriched (process, interface, drop reason names) and formatted as
//! text, as JSON and as pcapng (with 256 packet bytes per event), written to /dev/null. Not a test: prints a table. `cargo bench -p pwru --bench userspace`.

use probes::event::{EV_HAS_REASON, EV_HAS_TUPLE, EV_KIND_TRACEPOINT, RawEvent};
use pwru::clock::WallClock;
use pwru::decode::{Decoder, Want};
use pwru::lookups::Symbols;
use pwru::plan::Destination;
use pwru::sink::Sink;
use pwru::sink::lines::LineSink;
use pwru::sink::pcap::PcapSink;
use pwru::sink::writer::Writer;
use std::time::Instant;

fn events(n: usize) -> Vec<RawEvent> {
    let me = std::process::id();
    (0..n)
        .map(|i| {
            let mut r = RawEvent {
                ts_ns: 1_000_000 + i as u64 * 1000,
                skb: 0xffff_8880_1000_0000 + (i as u64 % 64) * 0x100,
                probe_id: (i % 4) as u32,
                pid: if i % 3 == 0 { 0 } else { me },
                cpu: (i % 2) as u32,
                netns: 4026531840,
                ifindex: 1,
                len: 84,
                mtu: 1500,
                protocol: 0x0800u16.to_be(),
                l4_proto: if i % 5 == 0 { 17 } else { 1 },
                sport: 40000,
                dport: 53,
                kind: EV_KIND_TRACEPOINT,
                flags: EV_HAS_TUPLE,
                ..Default::default()
            };
            if i % 4 == 3 {
                r.flags |= EV_HAS_REASON;
                r.drop_reason = 3;
            }
            r.saddr[..4].copy_from_slice(&[10, 0, (i % 250) as u8, 1]);
            r.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
            r.comm[..4].copy_from_slice(b"ping");
            r
        })
        .collect()
}

fn main() {
    let n = 500_000;
    let raws = events(n);
    let btf = symbols::Btf::load(None, &symbols::ModuleSel::None).expect("kernel BTF");
    let own_netns = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self/ns/net").unwrap().ino() as u32
    };
    println!("| output | events | seconds | events/s |");
    println!("|---|---|---|---|");
    for format in ["text", "json", "pcapng"] {
        let syms = Symbols {
            kallsyms: None,
            skb_values: None,
            xdp_values: None,
            reasons: symbols::DropReasons::from_btf(&btf),
            tracepoints: [
                "net_dev_queue",
                "net_dev_start_xmit",
                "netif_receive_skb",
                "kfree_skb",
            ]
            .map(String::from)
            .to_vec(),
        };
        let mut dec = Decoder::new(
            syms,
            WallClock::measure(),
            Want {
                ifnames: true,
                ..Default::default()
            },
        );
        let out = Writer::new(Destination::File {
            flag: "--output-file",
            path: "/dev/null".into(),
            file: std::fs::File::create("/dev/null").unwrap(),
        });
        let opts = event::OutputOptions::default();
        let mut s: Box<dyn Sink> = match format {
            "json" => {
                Box::new(LineSink::new(event::JsonFormatter::new(opts), shared(out)).unwrap())
            }
            "text" => {
                Box::new(LineSink::new(event::TextFormatter::new(opts), shared(out)).unwrap())
            }
            _ => Box::new(
                PcapSink::new(
                    out,
                    pwru::plan::output::Pcap {
                        snaplen: 256,
                        once: false,
                        ethernet: false,
                    },
                    "pwru bench",
                )
                .unwrap(),
            ),
        };
        let t0 = Instant::now();
        for (i, r) in raws.iter().enumerate() {
            let mut r = *r;
            r.netns = own_netns;
            let mut ev = dec.decode(&r);
            if format == "pcapng" {
                // What --snaplen 256 copies of a 1000-byte ping.
                ev.packet = Some(event::Packet {
                    start: event::PacketStart::L2,
                    orig_len: 1042,
                    data: vec![0x45; 256],
                });
            }
            s.event(&ev).unwrap();
            if i % 256 == 255 {
                s.flush().unwrap();
            }
        }
        s.flush().unwrap();
        let dt = t0.elapsed().as_secs_f64();
        println!("| {format} | {n} | {dt:.3} | {:.0} |", n as f64 / dt);
    }
}

fn shared(w: Writer) -> pwru::sink::lines::SharedWriter {
    std::rc::Rc::new(std::cell::RefCell::new(w))
}
