//! `--dist loadgroup` groups declared in config files.

/// A `--dist loadgroup` group declared in a config file (`group = [{ name,
/// filter }]`): the tests of one binary that its filter matches run
/// together, as those under an `xdist_group_NAME` module do.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub name: String,
    pub filter: GroupFilter,
}

/// Which tests a declared group takes.
#[derive(Debug, Clone)]
pub enum GroupFilter {
    /// A regex searched in the full test name (`^db::`).
    TestName(regex::Regex),
    /// `file:GLOB`: a glob on the test's source file as `cargo xdist list`
    /// shows it, relative to the package (`file:tests/db/**`).
    SourceFile(globset::GlobMatcher),
}

impl GroupFilter {
    /// `file:GLOB`, else a test-name regex; the error completes "`filter` ...".
    pub fn parse(text: &str) -> Result<GroupFilter, String> {
        match text.strip_prefix("file:") {
            Some(glob) => globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|g| GroupFilter::SourceFile(g.compile_matcher()))
                .map_err(|e| format!("is not a valid glob ({e})")),
            None => regex::Regex::new(text)
                .map(GroupFilter::TestName)
                .map_err(|e| {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim().to_string();
                    format!("is not a valid regex ({why})")
                }),
        }
    }
}

impl GroupRule {
    /// The first declared group that takes a test, by its name and source file.
    pub fn find<'a>(rules: &'a [GroupRule], test: &str, source: Option<&str>) -> Option<&'a str> {
        rules
            .iter()
            .find(|r| match &r.filter {
                GroupFilter::TestName(re) => re.is_match(test),
                GroupFilter::SourceFile(glob) => source.is_some_and(|s| glob.is_match(s)),
            })
            .map(|r| r.name.as_str())
    }
}
