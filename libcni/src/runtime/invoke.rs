//! Finding and executing plugin binaries.

/// Splits a `CNI_PATH` value on the OS list separator, dropping empty entries.
pub fn split_path(path: &str) -> Vec<String> {
    path.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
