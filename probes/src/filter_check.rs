//! Running a spliced pcap filter in the kernel, for differential tests against libpcap: the `filter_test`
//! classifier copies the test packet into the same buffer the probes use and returns the stub's verdict, and the
//! filter reaches it through exactly the production splice ([`crate::splice`]).
use crate::config::FilterCode;
use crate::contract::FILTER_BUF_SIZE;
use crate::error::{ObjectError, ProbeError};
use crate::{objects, splice};
use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};

/// The `filter_test` program with one filter spliced in, loaded and ready to run on packets.
pub struct FilterTester {
    ebpf: Ebpf,
}

impl FilterTester {
    /// Loads `filter_test` with `filter` spliced in. With `l3` the stub gets the packet from its IP header
    /// (the first 14 bytes, an Ethernet header, are skipped) and `l3 = 1`, as for skbs without a MAC header.
    pub fn new(filter: &FilterCode, l3: bool) -> Result<Self, ProbeError> {
        // Only filter_test: aya would CO-RE relocate every program of the object (each tester pays it).
        let elf = splice::splice_keeping(
            objects::object(),
            &[splice::Stub {
                section: splice::PCAP_FILTER,
                insns: &filter.insns,
            }],
            &["filter_test"],
        )?;
        let have = 1u32;
        let snaplen = filter.snaplen.clamp(1, FILTER_BUF_SIZE);
        let l3 = l3 as u32;
        let mut ebpf = EbpfLoader::new()
            .override_global("HAVE_FILTER", &have, true)
            .override_global("FILTER_SNAPLEN", &snaplen, true)
            .override_global("FILTER_TEST_L3", &l3, true)
            .map_max_entries("EVENTS", 4096)
            .map_max_entries("STACKS", 1)
            .map_max_entries("TRACKED", 1)
            .load(&elf)
            .map_err(ObjectError::Maps)?;
        let prog = program(&mut ebpf)?;
        prog.load().map_err(|e| match e {
            aya::programs::ProgramError::LoadError {
                io_error,
                verifier_log,
            } => ProbeError::Verifier {
                program: "filter_test".into(),
                errno: bpf_sys::Errno(io_error.raw_os_error().unwrap_or(0)),
                log: crate::error::log_tail(&verifier_log.to_string(), 25),
            },
            source => ObjectError::Program {
                name: "filter_test",
                source,
            }
            .into(),
        })?;
        Ok(FilterTester { ebpf })
    }

    /// Runs the filter on one Ethernet frame (at least 14 bytes); returns the filter's r0.
    pub fn run(&mut self, packet: &[u8]) -> Result<u32, ProbeError> {
        let r = program(&mut self.ebpf)?
            .test_run(TestRunOptions {
                data_in: Some(packet),
                ..Default::default()
            })
            .map_err(|source| ObjectError::Program {
                name: "filter_test",
                source,
            })?;
        Ok(r.return_value)
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, ProbeError> {
    let p = ebpf
        .program_mut("filter_test")
        .ok_or_else(|| ObjectError::Missing {
            kind: "program",
            name: "filter_test".into(),
        })?;
    p.try_into().map_err(|source| {
        ObjectError::Program {
            name: "filter_test",
            source,
        }
        .into()
    })
}
