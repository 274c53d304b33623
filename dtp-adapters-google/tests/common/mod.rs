pub mod photos_mock;
pub mod takeout;
