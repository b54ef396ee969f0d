//! OLE compound-file formats: doc, xls, ppt, hwp.
