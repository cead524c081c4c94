//! Database names and markers: worker K's database `<base>_gwK`, the
//! further name sets (`<base>_r2_gwK`, ...) that runs use while another run
//! holds the first, the cached templates' `<base>_xdist_tpl_<hash>`, each
//! shortened with a stable hash ([`crate::hash`]) when it would exceed
//! PostgreSQL's 63-byte identifier limit; and the marker comments that say
//! which databases cargo-xdist made, and for which base.
//!
//! Everything here is a pure function of its inputs: no I/O.

/// PostgreSQL's maximum identifier length in bytes (NAMEDATALEN - 1).
pub const MAX_IDENT_LEN: usize = 63;

/// `<base><suffix>`; when that would exceed [`MAX_IDENT_LEN`] bytes, the
/// base is replaced by a prefix of it, `_`, and 8 hex digits of a stable
/// hash of the whole base, so the name is valid, deterministic, and distinct
/// for every suffix (and, with overwhelming probability, from the names of
/// other bases).
fn suffixed_name(base: &str, suffix: &str) -> String {
    if base.len() + suffix.len() <= MAX_IDENT_LEN {
        return format!("{base}{suffix}");
    }
    let hash = format!("_{:08x}", crate::hash::fnv1a32(base.as_bytes()));
    let mut keep = MAX_IDENT_LEN.saturating_sub(hash.len() + suffix.len());
    while !base.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{hash}{suffix}", &base[..keep])
}

/// Worker `index`'s database name: `<base>_gw<index>`, shortened as
/// `suffixed_name` says when too long.
pub fn worker_db_name(base: &str, index: usize) -> String {
    suffixed_name(base, &format!("_gw{index}"))
}

/// If `name` is the database name of some worker of `base` (as made by
/// [`worker_db_name`]), that worker's index.
pub fn worker_index(base: &str, name: &str) -> Option<usize> {
    let at = name.rfind("_gw")?;
    let digits = &name[at + 3..];
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let index = digits.parse().ok().filter(|_| canonical)?;
    (worker_db_name(base, index) == name).then_some(index)
}

/// How many name sets the runs on one base can use at once.
pub const MAX_NAME_SETS: usize = 16;

/// What the worker database names of name set `set` (1-based) of `base`
/// extend: `base` itself for the first set, `<base>_r<set>` for the
/// others. Runs on one base at the same time each hold a set of their own.
pub fn name_set(base: &str, set: usize) -> String {
    match set {
        0 | 1 => base.to_string(),
        _ => format!("{base}_r{set}"),
    }
}

/// Worker `index`'s database name in name set `set` of `base`:
/// `<base>_gw<index>`, `<base>_r2_gw<index>`, ..., shortened as
/// `suffixed_name` says when too long.
pub fn set_worker_db_name(base: &str, set: usize, index: usize) -> String {
    worker_db_name(&name_set(base, set), index)
}

/// If `name` is the database name of some worker of some name set of
/// `base` (up to [`MAX_NAME_SETS`]), that set and worker index.
pub fn worker_set_index(base: &str, name: &str) -> Option<(usize, usize)> {
    (1..=MAX_NAME_SETS)
        .find_map(|set| worker_index(&name_set(base, set), name).map(|index| (set, index)))
}

/// Between a base name and a template's hash in the template's name.
const TEMPLATE_INFIX: &str = "_xdist_tpl_";

/// Hex digits of a template's key in its name.
pub const TEMPLATE_HASH_LEN: usize = 16;

/// The cached template database of `base` whose key starts with `hash`:
/// `<base>_xdist_tpl_<hash>`, shortened as `suffixed_name` says when too
/// long.
pub fn template_db_name(base: &str, hash: &str) -> String {
    suffixed_name(base, &format!("{TEMPLATE_INFIX}{hash}"))
}

/// If `name` is a cached template database of `base` (as made by
/// [`template_db_name`]), the hash in its name.
pub fn template_hash<'a>(base: &str, name: &'a str) -> Option<&'a str> {
    let at = name.rfind(TEMPLATE_INFIX)?;
    let hash = &name[at + TEMPLATE_INFIX.len()..];
    let canonical = hash.len() == TEMPLATE_HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (canonical && template_db_name(base, hash) == name).then_some(hash)
}

/// Every marker comment starts with this; only databases whose comment
/// starts with it are ever dropped, and only by runs (and `db clean`s) on
/// the base database the comment names next ([`base_marker`]).
pub const MARKER_PREFIX: &str = "created by cargo-xdist";

/// How every marker comment of a database made for base database `base`
/// starts: `created by cargo-xdist for "<base>"` (a `"` in the name
/// doubled), then ` run <id>`, ` run <id> from <template>` or
/// ` template <key>`. A database is dropped or reused only when its marker
/// names the base of the run (or `db clean`) at hand: not one made for
/// another base whose names look alike, nor one marked by an earlier
/// version that did not name the base.
pub fn base_marker(base: &str) -> String {
    format!("{MARKER_PREFIX} for \"{}\"", base.replace('"', "\"\""))
}

/// Whether `comment` is the marker of a database made for base `base`.
pub fn marks_base(comment: Option<&str>, base: &str) -> bool {
    // The quotes of a name are doubled, so `"<base>" ` begins only the
    // markers of this base.
    comment.is_some_and(|c| {
        c.strip_prefix(&base_marker(base))
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// Whether `comment` is a marker of cargo-xdist's (for any base).
pub(super) fn is_marked(comment: Option<&str>) -> bool {
    comment.is_some_and(|c| c.starts_with(MARKER_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::url::PgUrl;

    #[test]
    fn short_names_get_a_plain_suffix() {
        assert_eq!(worker_db_name("app", 0), "app_gw0");
        assert_eq!(worker_db_name("app", 12), "app_gw12");
        assert_eq!(worker_index("app", "app_gw12"), Some(12));
        assert_eq!(worker_index("app", "app_gw012"), None);
        assert_eq!(worker_index("app", "app_gw"), None);
        assert_eq!(worker_index("app", "app"), None);
        assert_eq!(worker_index("app", "other_gw1"), None);
        assert_eq!(worker_index("app", "app_gw1_gw2"), None);
        assert_eq!(worker_index("app_gw1", "app_gw1_gw2"), Some(2));
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let base = "a".repeat(63);
        let names: Vec<String> = (0..=3).map(|k| worker_db_name(&base, k)).collect();
        for (k, name) in names.iter().enumerate() {
            assert!(name.len() <= MAX_IDENT_LEN, "{name}");
            assert!(name.ends_with(&format!("_gw{k}")), "{name}");
            assert_eq!(name, &worker_db_name(&base, k), "deterministic");
            assert_eq!(worker_index(&base, name), Some(k));
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        // Exactly at the limit: 59 + "_gw0" fits, "_gw10" does not.
        let base59 = "b".repeat(59);
        assert_eq!(worker_db_name(&base59, 0), format!("{base59}_gw0"));
        assert!(worker_db_name(&base59, 10).len() <= MAX_IDENT_LEN);
        assert_ne!(worker_db_name(&base59, 10), worker_db_name(&base59, 1));
        // Different long bases differ even with a common prefix.
        let other = format!("{}z", "a".repeat(62));
        assert_ne!(worker_db_name(&base, 0), worker_db_name(&other, 0));
        // Multi-byte characters are never cut in half.
        let wide = "é".repeat(40);
        for k in [0, 7, 123] {
            let name = worker_db_name(&wide, k);
            assert!(name.len() <= MAX_IDENT_LEN);
            assert_eq!(worker_index(&wide, &name), Some(k));
        }
        // Large indices stay within the limit too.
        assert!(worker_db_name(&base, usize::MAX).len() <= MAX_IDENT_LEN);
    }

    #[test]
    fn name_sets_are_distinct_recognised_and_short_enough() {
        assert_eq!(set_worker_db_name("app", 1, 3), "app_gw3");
        assert_eq!(set_worker_db_name("app", 2, 0), "app_r2_gw0");
        assert_eq!(worker_set_index("app", "app_gw3"), Some((1, 3)));
        assert_eq!(worker_set_index("app", "app_r2_gw0"), Some((2, 0)));
        assert_eq!(worker_set_index("app", "app_r16_gw1"), Some((16, 1)));
        for not_one in [
            "app",
            "app_r1_gw0",
            "app_r17_gw0",
            "app_r02_gw0",
            "other_r2_gw0",
        ] {
            assert_eq!(worker_set_index("app", not_one), None, "{not_one}");
        }
        for base in ["l".repeat(63), "é".repeat(31)] {
            let mut all = Vec::new();
            for set in 1..=MAX_NAME_SETS {
                for k in [0, 9, 10] {
                    let name = set_worker_db_name(&base, set, k);
                    assert!(name.len() <= MAX_IDENT_LEN, "{name}");
                    assert_eq!(worker_set_index(&base, &name), Some((set, k)));
                    all.push(name);
                }
            }
            let count = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), count, "names differ between sets");
        }
        let u = PgUrl::parse("postgres://u:p%40ss@h/my%20db?sslmode=disable").unwrap();
        assert_eq!(
            u.worker_url_in(3, 1),
            "postgres://u:p%40ss@h/my%20db_r3_gw1?sslmode=disable"
        );
        assert_eq!(u.worker_url_in(1, 1), u.worker_url(1));
    }

    #[test]
    fn shortened_names_never_change() {
        // Names on servers outlive releases: a kept database, a cached
        // template, `db clean` must find them under the same name.
        assert_eq!(
            worker_db_name(&"a".repeat(63), 0),
            format!("{}_2469b9e6_gw0", "a".repeat(50))
        );
        assert_eq!(
            template_db_name(&"l".repeat(60), "0123456789abcdef"),
            format!("{}_de9a0405_xdist_tpl_0123456789abcdef", "l".repeat(27))
        );
    }

    #[test]
    fn template_names_are_recognised_and_shortened_like_worker_names() {
        let hash = "0123456789abcdef";
        assert_eq!(
            template_db_name("app", hash),
            "app_xdist_tpl_0123456789abcdef"
        );
        assert_eq!(
            template_hash("app", "app_xdist_tpl_0123456789abcdef"),
            Some(hash)
        );
        for not_one in [
            "app",
            "app_gw0",
            "app_xdist_tpl_0123456789ABCDEF",
            "app_xdist_tpl_0123",
            "other_xdist_tpl_0123456789abcdef",
            "app_x_xdist_tpl_0123456789abcdef",
        ] {
            assert_eq!(template_hash("app", not_one), None, "{not_one}");
        }
        assert_eq!(worker_index("app", &template_db_name("app", hash)), None);
        let long = "l".repeat(60);
        let name = template_db_name(&long, hash);
        assert!(name.len() <= MAX_IDENT_LEN, "{name}");
        assert!(name.ends_with("_xdist_tpl_0123456789abcdef"), "{name}");
        assert_eq!(template_hash(&long, &name), Some(hash));
        assert_ne!(name, template_db_name(&format!("{long}x"), hash));
    }

    #[test]
    fn a_marker_names_its_base_and_no_other() {
        assert_eq!(base_marker("shop"), "created by cargo-xdist for \"shop\"");
        let shop = format!("{} run r1", base_marker("shop"));
        assert!(marks_base(Some(&shop), "shop"));
        for other in ["shop_r2", "sho", "shop_gw0", "shop\" run r1", ""] {
            assert!(!marks_base(Some(&shop), other), "{other}");
            let theirs = format!("{} run r1", base_marker(other));
            assert!(!marks_base(Some(&theirs), "shop"), "{theirs}");
            assert!(is_marked(Some(&theirs)));
        }
        let quoted = format!("{} template k", base_marker("a\" run x"));
        assert!(marks_base(Some(&quoted), "a\" run x"));
        assert!(!marks_base(Some(&quoted), "a"));
        // An earlier version's markers name no base.
        assert!(!marks_base(Some("created by cargo-xdist run r1"), "shop"));
        assert!(!marks_base(Some(&base_marker("shop")), "shop"));
        assert!(!marks_base(None, "shop"));
    }
}
