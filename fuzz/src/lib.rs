//! What the fuzz targets share: the translate -> render pipeline with its checks (and the
//! `haproxy -c` replay), and the input formats of the annotation and Secret targets.

pub mod annotation_input;
pub mod render_check;
pub mod secret_input;
