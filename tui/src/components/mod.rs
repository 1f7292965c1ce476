//! Parts that more than one screen uses: the booking flow, the patient
//! chart with its records, the record editor.

pub mod booking;
pub mod chart;
pub mod editor;
