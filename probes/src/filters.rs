//! One pcap stub for several filters: the main filter and the tunnel filters (`--filter-tunnel-pcap-l2/-l3`) are
//! joined into the one body spliced into `pcap_filter()`, which picks the filter by its fourth argument
//! (docs/filter-abi.md): [`MODE_L2`]/[`MODE_L3`] run the main filter on a packet from its Ethernet/IP header,
//! [`MODE_TUNNEL_L2`]/[`MODE_TUNNEL_L3`] a tunnel filter on the inner Ethernet frame / IP packet.
//!
//! Why not one stub per filter: aya-obj 0.3 links the subprograms a program calls by their offset in their
//! section alone (`Linker::linked_functions` is keyed by address), so two stubs, each alone at offset 0 of its own
//! section, would both be linked to the first one's body when a program calls both.
//!
//! The joined body:
//! ```text
//!     if r4 == 2 goto tunnel_l2
//!     if r4 == 3 goto tunnel_l3
//!     <main filter>               (r4 = 0 or 1 as the caller passed it)
//! tunnel_l2: r4 = 0; <tunnel L2 filter>
//! tunnel_l3: r4 = 1; <tunnel L3 filter>
//! ```
//! Each generated filter is a self-contained function body (relative jumps, ends in exits), so it runs unchanged
//! after the others; a filter that is not given is `r0 = 1; exit`.

/// `pcap_filter(.., l3)`: the main filter, the buffer holds an Ethernet frame.
pub const MODE_L2: u32 = 0;
/// The main filter, the buffer holds an IP packet.
pub const MODE_L3: u32 = 1;
/// The tunnel L2 filter, the buffer holds the inner Ethernet frame.
pub const MODE_TUNNEL_L2: u32 = 2;
/// The tunnel L3 filter, the buffer holds the inner IP packet.
pub const MODE_TUNNEL_L3: u32 = 3;

/// The joined filters do not fit the 16-bit jumps of the dispatch.
#[derive(Debug, thiserror::Error)]
#[error(
    "the filter and the tunnel filters are {0} instructions together, more than a 16-bit jump spans (32767)"
)]
pub struct JoinError(pub usize);

const INSN: usize = 8;

fn insn(code: u8, regs: u8, off: i16, imm: i32) -> [u8; INSN] {
    let mut b = [0u8; INSN];
    b[0] = code;
    b[1] = regs;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// `if r4 == imm goto +off` (BPF_JMP | BPF_JEQ | BPF_K).
fn jeq_r4(imm: i32, off: i16) -> [u8; INSN] {
    insn(0x15, 4, off, imm)
}

/// `rN = imm` (BPF_ALU64 | BPF_MOV | BPF_K).
fn mov(reg: u8, imm: i32) -> [u8; INSN] {
    insn(0xb7, reg, 0, imm)
}

const EXIT: [u8; INSN] = [0x95, 0, 0, 0, 0, 0, 0, 0];

/// `r0 = 1; exit`: accept everything.
fn accept_all() -> Vec<u8> {
    [mov(0, 1), EXIT].concat()
}

/// The body for the stub: `main` alone when no tunnel filter is given, else the three joined as described above.
/// Each is raw instructions as pcap-filter generates them.
pub fn join(
    main: Option<&[u8]>,
    tunnel_l2: Option<&[u8]>,
    tunnel_l3: Option<&[u8]>,
) -> Result<Vec<u8>, JoinError> {
    if tunnel_l2.is_none() && tunnel_l3.is_none() {
        return Ok(main.map(<[u8]>::to_vec).unwrap_or_else(accept_all));
    }
    let body = |f: Option<&[u8]>| f.map(<[u8]>::to_vec).unwrap_or_else(accept_all);
    let (main, l2, l3) = (body(main), body(tunnel_l2), body(tunnel_l3));
    let n = |b: &[u8]| b.len() / INSN;
    // Jumps count from the next instruction: from insn 0 over insn 1 and the main filter; from insn 1 over the
    // main filter, the L2 block's `r4 = 0` and the L2 filter.
    let to_l2 = 1 + n(&main);
    let to_l3 = n(&main) + 1 + n(&l2);
    let total = 2 + n(&main) + 1 + n(&l2) + 1 + n(&l3);
    let (Ok(to_l2), Ok(to_l3)) = (i16::try_from(to_l2), i16::try_from(to_l3)) else {
        return Err(JoinError(total));
    };
    let mut out = Vec::with_capacity(total * INSN);
    out.extend(jeq_r4(MODE_TUNNEL_L2 as i32, to_l2));
    out.extend(jeq_r4(MODE_TUNNEL_L3 as i32, to_l3));
    out.extend(&main);
    out.extend(mov(4, MODE_L2 as i32));
    out.extend(&l2);
    out.extend(mov(4, MODE_L3 as i32));
    out.extend(&l3);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_filter::Insn;

    fn prog(bytes: &[u8]) -> pcap_filter::Program {
        pcap_filter::Program {
            insns: bytes
                .chunks(8)
                .map(|c| Insn::from_bytes(c.try_into().unwrap()))
                .collect(),
            snaplen: pcap_filter::FILTER_BUF_SIZE,
        }
    }

    fn icmp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14 + 28];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 1; // ICMP
        f
    }

    #[test]
    fn main_filter_alone_is_unchanged() {
        let tcp = pcap_filter::compile("tcp").unwrap().to_bytes();
        assert_eq!(join(Some(&tcp), None, None).unwrap(), tcp);
        assert_eq!(join(None, None, None).unwrap(), accept_all());
    }

    #[test]
    fn joined_main_filter_still_decides_modes_0_and_1() {
        // The interpreter passes r4 = 0 or 1: the dispatch falls through to the main filter, both ways.
        let icmp = pcap_filter::compile("icmp").unwrap().to_bytes();
        let tcp = pcap_filter::compile("tcp").unwrap().to_bytes();
        let f = icmp_frame();
        for (main, want) in [(&icmp, 1), (&tcp, 0)] {
            let j = prog(&join(Some(main), Some(&tcp), Some(&tcp)).unwrap());
            assert_eq!(
                pcap_filter::interpret(&j, &f, false).unwrap() != 0,
                want == 1
            );
            assert_eq!(
                pcap_filter::interpret(&j, &f[14..], true).unwrap() != 0,
                want == 1
            );
        }
        // No main filter: the main slot accepts.
        let j = prog(&join(None, Some(&tcp), None).unwrap());
        assert_eq!(pcap_filter::interpret(&j, &f, false).unwrap(), 1);
    }

    #[test]
    fn dispatch_jumps_land_on_the_tunnel_blocks() {
        let main = pcap_filter::compile("tcp").unwrap().to_bytes();
        let l2 = pcap_filter::compile("ether host 02:00:00:00:00:01")
            .unwrap()
            .to_bytes();
        let l3 = pcap_filter::compile("icmp").unwrap().to_bytes();
        let j = join(Some(&main), Some(&l2), Some(&l3)).unwrap();
        let at = |i: usize| &j[i * 8..i * 8 + 8];
        let off = |i: usize| i16::from_le_bytes([at(i)[2], at(i)[3]]) as usize;
        let (m, a) = (main.len() / 8, l2.len() / 8);
        // insn 0 jumps to `r4 = 0` before the L2 filter; insn 1 to `r4 = 1` before the L3 filter.
        assert_eq!(1 + off(0), 2 + m);
        assert_eq!(at(2 + m), mov(4, 0));
        assert_eq!(&j[(3 + m) * 8..(3 + m + a) * 8], &l2[..]);
        assert_eq!(2 + off(1), 3 + m + a);
        assert_eq!(at(3 + m + a), mov(4, 1));
        assert_eq!(&j[(4 + m + a) * 8..], &l3[..]);
        assert!(crate::splice::validate(&j).is_ok());
    }

    #[test]
    fn too_long_to_jump_over_is_an_error() {
        let big = [mov(0, 0); 40_000].concat();
        let e = join(Some(&big), Some(&accept_all()), None).unwrap_err();
        assert!(
            e.to_string().contains("more than a 16-bit jump spans"),
            "{e}"
        );
    }
}
