DROP TABLE security_questions;
