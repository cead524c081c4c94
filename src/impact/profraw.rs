//! Which functions one process executed, read straight from the raw
//! profile it wrote (`.profraw`), without running `llvm-profdata` (70 ms
//! a profile on winnow; this takes well under one).
//!
//! The format is LLVM's raw profile (`InstrProfData.inc`), version 10,
//! which rustc's LLVM 19 and later write: a header of 16 little-endian
//! `u64`s, the binary ids, one data record per instrumented function
//! (its name's MD5, its counters' place), then the counters. A function
//! ran if any of its counters is not zero: every region's count is a
//! counter or a sum and difference of counters, so a function whose
//! counters are all zero executed no region. Functions are named by the
//! low 64 bits of the MD5 of their PGO name ([`name_ref`]), which is what
//! `llvm-cov export` calls their `name`.

use std::collections::HashSet;

use anyhow::{Context, Result, bail, ensure};
use camino::Utf8Path;
use md5::{Digest, Md5};

/// The raw profile's magic number (64-bit, little-endian host).
const MAGIC: u64 = 0xff6c_7072_6f66_7281;
/// The format versions this reader knows the layout of.
const VERSIONS: [u64; 1] = [10];
/// The version's low bits; the high byte holds variant flags.
const VERSION_MASK: u64 = (1 << 56) - 1;
/// Variant flags this reader does not understand: single-byte coverage
/// counters, debug-info correlation (no names or data in the file) and
/// function-entry-only profiles.
const UNSUPPORTED_VARIANTS: u64 = (1 << 59) | (1 << 60) | (1 << 61);
const HEADER_WORDS: usize = 16;

/// The low 64 bits of the MD5 of a function's PGO name, as LLVM names a
/// function in its profiles.
pub fn name_ref(name: &str) -> u64 {
    let digest = Md5::digest(name.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(low)
}

/// The functions (by [`name_ref`]) with a count in the profile at `path`.
pub fn executed(path: &Utf8Path) -> Result<HashSet<u64>> {
    let bytes = fs_err::read(path)?;
    executed_in(&bytes).with_context(|| format!("cannot read the raw profile {path}"))
}

fn word(bytes: &[u8], at: usize) -> Result<u64> {
    let slice = bytes
        .get(at..at + 8)
        .context("the file ends inside a record")?;
    Ok(u64::from_le_bytes(slice.try_into().expect("8 bytes")))
}

/// [`executed`] of a profile's bytes.
pub fn executed_in(bytes: &[u8]) -> Result<HashSet<u64>> {
    ensure!(
        bytes.len() >= HEADER_WORDS * 8,
        "too short for a raw profile"
    );
    let h: Vec<u64> = (0..HEADER_WORDS)
        .map(|i| word(bytes, i * 8))
        .collect::<Result<_>>()?;
    ensure!(h[0] == MAGIC, "not a 64-bit raw LLVM profile");
    let version = h[1] & VERSION_MASK;
    if !VERSIONS.contains(&version) {
        bail!(
            "raw profile format version {version} is not one this cargo-xdist reads ({VERSIONS:?}); a newer toolchain wrote it: update cargo-xdist"
        );
    }
    ensure!(
        h[1] & UNSUPPORTED_VARIANTS == 0,
        "the raw profile is of a variant (byte counters, debug-info correlation or entry-only) impact maps cannot use"
    );
    let [binary_ids, num_data, pad_before, num_counters] = [h[2], h[3], h[4], h[5]];
    let counters_delta = h[10];
    let value_kind_last = h[15];
    // NameRef, FuncHash, CounterPtr, BitmapPtr, FunctionPointer, Values,
    // then NumCounters (u32), NumValueSites (u16 per value kind) and
    // NumBitmapBytes (u32), padded to 8 bytes.
    ensure!(value_kind_last < 16, "implausible value kind count");
    let record = (6 * 8 + 4 + 2 * (value_kind_last as usize + 1) + 4).div_ceil(8) * 8;
    let data_start = (HEADER_WORDS * 8)
        .checked_add(usize::try_from(binary_ids)?)
        .context("implausible header")?;
    let num_data = usize::try_from(num_data)?;
    let counters_start = num_data
        .checked_mul(record)
        .and_then(|d| d.checked_add(data_start))
        .and_then(|d| d.checked_add(usize::try_from(pad_before).ok()?))
        .context("implausible header")?;
    let counters_len = usize::try_from(num_counters)?
        .checked_mul(8)
        .context("implausible header")?;
    let counters = bytes
        .get(counters_start..counters_start.saturating_add(counters_len))
        .context("the file ends inside its counters")?;
    let mut hit = HashSet::new();
    for i in 0..num_data {
        let at = data_start + i * record;
        let name = word(bytes, at)?;
        let counter_ptr = word(bytes, at + 16)?;
        let count = bytes
            .get(at + 48..at + 52)
            .context("the file ends inside a record")?;
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        // CounterPtr is relative to the record's own address, which the
        // header's CountersDelta gives for the first record.
        let own = counters_delta.wrapping_sub((i * record) as u64);
        let offset = counter_ptr.wrapping_sub(own) as i64;
        ensure!(
            offset >= 0 && offset % 8 == 0,
            "a function's counters lie outside the counter section"
        );
        let first = offset as usize;
        let mine = counters
            .get(first..first + count * 8)
            .context("a function's counters lie outside the counter section")?;
        if mine.iter().any(|&b| b != 0) {
            hit.insert(name);
        }
    }
    Ok(hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-10 raw profile with `functions` (name, counters), laid
    /// out as LLVM's runtime writes it (records of 64 bytes, `pad` bytes
    /// before the counters, as continuous mode's page alignment adds).
    fn profile(functions: &[(&str, &[u64])], pad: u64) -> Vec<u8> {
        let num_counters: usize = functions.iter().map(|f| f.1.len()).sum();
        let delta: u64 = 0x7000_0000;
        let header = [
            MAGIC,
            10,
            0,
            functions.len() as u64,
            pad,
            num_counters as u64,
            0,
            0,
            0,
            0,
            delta,
            0,
            0,
            0,
            0,
            2,
        ];
        let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut first = 0u64;
        for (i, (name, counters)) in functions.iter().enumerate() {
            let mut rec = Vec::new();
            rec.extend(name_ref(name).to_le_bytes());
            rec.extend(7u64.to_le_bytes());
            // The counter's address relative to the record's: CountersBegin
            // - DataBegin (`delta`) + the counter's offset - the record's.
            rec.extend((delta + first * 8 - 64 * i as u64).to_le_bytes());
            rec.extend([0u8; 24]);
            rec.extend((counters.len() as u32).to_le_bytes());
            rec.resize(64, 0);
            out.extend(rec);
            first += counters.len() as u64;
        }
        out.extend(std::iter::repeat_n(0u8, pad as usize));
        for (_, counters) in functions {
            for c in *counters {
                out.extend(c.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn functions_with_any_count_are_executed() {
        let bytes = profile(&[("a", &[0, 0]), ("b", &[0, 3]), ("c", &[1])], 0);
        let hit = executed_in(&bytes).unwrap();
        assert_eq!(hit, HashSet::from([name_ref("b"), name_ref("c")]));
        let padded = profile(&[("a", &[5]), ("b", &[0])], 16);
        assert_eq!(
            executed_in(&padded).unwrap(),
            HashSet::from([name_ref("a")])
        );
    }

    #[test]
    fn bad_profiles_are_errors_not_panics() {
        let bytes = profile(&[("a", &[1])], 0);
        for cut in [0, 10, 128, 150, bytes.len() - 1] {
            assert!(executed_in(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = bytes.clone();
        newer[8] = 11;
        let err = executed_in(&newer).unwrap_err().to_string();
        assert!(err.contains("version 11"), "{err}");
        let mut bytes_cov = bytes.clone();
        bytes_cov[15] = 0x10; // byte-coverage variant flag (1 << 60)
        assert!(executed_in(&bytes_cov).is_err());
    }

    #[test]
    fn name_ref_is_llvms_md5_low_word() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e; low word little-endian.
        assert_eq!(name_ref(""), 0x04b2_008f_d98c_1dd4);
    }
}
