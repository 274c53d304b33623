pub mod takeout;
