//! Running a spliced pcap filter in the kernel, for differential tests against libpcap: the `filter_test`
//! classifier copies the test packet into the same buffer the probes use and returns the stub's verdict, and the
//! filter reaches it through exactly the production splice ([`crate::splice`]).
use crate::config::FilterCode;
use crate::error::ProbeError;
use crate::{objects, splice};
use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};

pub struct FilterTester {
    ebpf: Ebpf,
}

impl FilterTester {
    /// Loads `filter_test` with `filter` spliced in. With `l3` the stub gets the packet from its IP header
    /// (the first 14 bytes, an Ethernet header, are skipped) and `l3 = 1`, as for skbs without a MAC header.
    pub fn new(filter: &FilterCode, l3: bool) -> Result<Self, ProbeError> {
        let elf = splice::splice(objects::object(), &filter.insns)?;
        let have = 1u32;
        let snaplen = filter.snaplen.clamp(1, 2048);
        let l3 = l3 as u32;
        let mut ebpf = EbpfLoader::new()
            .override_global("HAVE_FILTER", &have, true)
            .override_global("FILTER_SNAPLEN", &snaplen, true)
            .override_global("FILTER_TEST_L3", &l3, true)
            .map_max_entries("EVENTS", 4096)
            .map_max_entries("STACKS", 1)
            .map_max_entries("TRACKED", 1)
            .load(&elf)
            .map_err(|e| ProbeError::Object(e.to_string()))?;
        let prog: &mut SchedClassifier = ebpf
            .program_mut("filter_test")
            .ok_or_else(|| ProbeError::Object("no filter_test program".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| ProbeError::Object(e.to_string()))?;
        prog.load().map_err(|e| match e {
            aya::programs::ProgramError::LoadError {
                io_error,
                verifier_log,
            } => ProbeError::Verifier {
                program: "filter_test".into(),
                errno: io_error,
                log: crate::error::log_tail(&verifier_log.to_string(), 25),
            },
            other => ProbeError::Object(other.to_string()),
        })?;
        Ok(FilterTester { ebpf })
    }

    /// Runs the filter on one Ethernet frame (at least 14 bytes); returns the filter's r0.
    pub fn run(&mut self, packet: &[u8]) -> Result<u32, ProbeError> {
        let prog: &mut SchedClassifier = self
            .ebpf
            .program_mut("filter_test")
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| ProbeError::Object("no filter_test program".into()))?;
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(packet),
                ..Default::default()
            })
            .map_err(|e| ProbeError::Object(format!("BPF_PROG_TEST_RUN: {e}")))?;
        Ok(r.return_value)
    }
}
