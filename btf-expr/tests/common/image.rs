//! A seedable random source and the memory images the generated expressions read.

use std::collections::HashMap;

use btf_expr::Memory;
use symbols::TypeId;

/// splitmix64: small, seedable, good enough to drive a generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A memory image under construction. Regions are spaced apart, so a read that leaves one faults.
pub struct Image {
    pub regions: Vec<(u64, Vec<u8>)>,
    /// Pointer slots whose target was decided: (address) -> target.
    pub(super) decided: HashMap<u64, u64>,
    /// Regions holding an object of a type, for pointers that alias (`e->next` back to the root).
    pub(super) by_type: HashMap<TypeId, Vec<u64>>,
    next: u64,
}

const REGION_BASE: u64 = 0xffff_8880_0000_0000;
pub(super) const BAD_BASE: u64 = 0xffff_dead_0000_0000;

impl Image {
    pub fn new() -> Self {
        Image {
            regions: Vec::new(),
            decided: HashMap::new(),
            by_type: HashMap::new(),
            next: REGION_BASE,
        }
    }

    pub fn alloc(&mut self, rng: &mut Rng, size: usize) -> u64 {
        let addr = self.next + rng.below(8) * 8;
        self.next += (size as u64).div_ceil(0x1000).max(1) * 0x1000 + 0x1000;
        let bytes = (0..size).map(|_| random_byte(rng)).collect();
        self.regions.push((addr, bytes));
        addr
    }

    fn region_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        self.regions.iter_mut().find_map(|(start, b)| {
            let from = addr.checked_sub(*start)? as usize;
            b.get_mut(from..from.checked_add(len)?)
        })
    }

    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.regions.iter().find_map(|(start, b)| {
            let from = addr.checked_sub(*start)? as usize;
            b.get(from..from.checked_add(len)?)
        })
    }

    pub fn write(&mut self, addr: u64, bytes: &[u8]) {
        if let Some(r) = self.region_mut(addr, bytes.len()) {
            r.copy_from_slice(bytes);
        }
    }

    pub fn memory(&self) -> Memory {
        let mut m = Memory::new();
        for (a, b) in &self.regions {
            m.insert(*a, b.clone());
        }
        m
    }

    pub(super) fn u64_at(&self, addr: u64) -> Option<u64> {
        self.read(addr, 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
}

/// Mostly small numbers and zeros, so NULs and small values turn up often.
fn random_byte(rng: &mut Rng) -> u8 {
    match rng.below(4) {
        0 => 0,
        1 => rng.below(8) as u8,
        _ => rng.next() as u8,
    }
}
