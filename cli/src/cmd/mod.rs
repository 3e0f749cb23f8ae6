pub mod control;
pub mod ctl;
pub mod gate;
pub mod tablet;
pub mod up;
