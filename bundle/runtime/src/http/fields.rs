//! The `fields` resource: headers and trailers, with the host's rules (the forbidden fields,
//! valid names and values, the size cap, immutable fields of a request or response).

use std::cell::RefCell;

use isyswasfa_protocol::http::{
    MAX_FIELDS_SIZE, is_forbidden, valid_field_name, valid_field_value,
};

use crate::Runtime;
use crate::bindings::exports::wasi::http0_3_0::types::{
    FieldName, FieldValue, Fields, GuestFields, HeaderError,
};

/// Fields as a list of name and value pairs, in order.
pub type FieldList = Vec<(String, Vec<u8>)>;

/// A `fields` resource.
pub struct HttpFields {
    entries: RefCell<FieldList>,
    mutable: bool,
}

impl HttpFields {
    /// Fields a guest may not change (a request's or response's).
    pub fn frozen(entries: FieldList) -> Self {
        HttpFields {
            entries: RefCell::new(entries),
            mutable: false,
        }
    }

    /// The fields, as a list.
    pub fn into_list(self) -> FieldList {
        self.entries.into_inner()
    }

    fn change(&self) -> Result<std::cell::RefMut<'_, FieldList>, HeaderError> {
        if self.mutable {
            Ok(self.entries.borrow_mut())
        } else {
            Err(HeaderError::Immutable)
        }
    }
}

/// Removes what a guest may not see: the forbidden fields (as the host does on every map that
/// reaches a guest).
pub fn visible(list: impl IntoIterator<Item = (String, Vec<u8>)>) -> FieldList {
    list.into_iter()
        .filter(|(name, _)| !is_forbidden(name))
        .collect()
}

fn settable(name: &str) -> Result<(), HeaderError> {
    if !valid_field_name(name) {
        return Err(HeaderError::InvalidSyntax);
    }
    if is_forbidden(name) {
        return Err(HeaderError::Forbidden);
    }
    Ok(())
}

fn size(entries: &FieldList) -> usize {
    entries
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum()
}

/// Appends `name: value` when valid and within the size cap.
fn append_within(entries: &mut FieldList, name: &str, value: Vec<u8>) -> Result<(), HeaderError> {
    settable(name)?;
    if !valid_field_value(&value) {
        return Err(HeaderError::InvalidSyntax);
    }
    if size(entries) + name.len() + value.len() > MAX_FIELDS_SIZE {
        return Err(HeaderError::SizeExceeded);
    }
    entries.push((name.to_string(), value));
    Ok(())
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl GuestFields for HttpFields {
    fn new() -> Self {
        HttpFields {
            entries: RefCell::new(Vec::new()),
            mutable: true,
        }
    }

    fn from_list(entries: Vec<(FieldName, FieldValue)>) -> Result<Fields, HeaderError> {
        let mut list = Vec::new();
        for (name, value) in entries {
            append_within(&mut list, &name, value)?;
        }
        Ok(Fields::new(HttpFields {
            entries: RefCell::new(list),
            mutable: true,
        }))
    }

    fn get(&self, name: FieldName) -> Vec<FieldValue> {
        self.entries
            .borrow()
            .iter()
            .filter(|(n, _)| same(n, &name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn has(&self, name: FieldName) -> bool {
        self.entries.borrow().iter().any(|(n, _)| same(n, &name))
    }

    fn set(&self, name: FieldName, value: Vec<FieldValue>) -> Result<(), HeaderError> {
        let mut entries = self.change()?;
        settable(&name)?;
        let mut next: FieldList = entries
            .iter()
            .filter(|(n, _)| !same(n, &name))
            .cloned()
            .collect();
        for v in value {
            append_within(&mut next, &name, v)?;
        }
        *entries = next;
        Ok(())
    }

    fn delete(&self, name: FieldName) -> Result<(), HeaderError> {
        let mut entries = self.change()?;
        settable(&name)?;
        entries.retain(|(n, _)| !same(n, &name));
        Ok(())
    }

    fn get_and_delete(&self, name: FieldName) -> Result<Vec<FieldValue>, HeaderError> {
        let mut entries = self.change()?;
        settable(&name)?;
        let (taken, kept): (FieldList, FieldList) =
            entries.drain(..).partition(|(n, _)| same(n, &name));
        *entries = kept;
        Ok(taken.into_iter().map(|(_, v)| v).collect())
    }

    fn append(&self, name: FieldName, value: FieldValue) -> Result<(), HeaderError> {
        let mut entries = self.change()?;
        append_within(&mut entries, &name, value)
    }

    fn copy_all(&self) -> Vec<(FieldName, FieldValue)> {
        self.entries.borrow().clone()
    }

    fn clone(&self) -> Fields {
        Fields::new(HttpFields {
            entries: RefCell::new(self.entries.borrow().clone()),
            mutable: true,
        })
    }
}

impl crate::bindings::exports::wasi::http0_3_0::types::Guest for Runtime {
    type Fields = HttpFields;
    type Request = crate::http::HttpRequest;
    type RequestOptions = crate::http::Options;
    type Response = crate::http::HttpResponse;
}
