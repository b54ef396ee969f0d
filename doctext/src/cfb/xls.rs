//! xls reader (in progress).

use super::Ole;
use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::Document;

pub(super) fn extract(_ole: &mut Ole, _ctx: &mut Ctx) -> Result<Document> {
    Err(Error::Unsupported("xls files are not read yet".into()))
}
