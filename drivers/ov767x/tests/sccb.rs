//! The SCCB transactions on the wire, scripted with embedded-hal-mock: reads are
//! "write the register address, STOP, read one byte" (no repeated start), writes are
//! one three-byte transaction.

use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
use ov767x::{Error, Ov767x, Sensor, regs};

const A: u8 = regs::ADDRESS;

fn id_reads(pid: u8, ver: u8) -> Vec<T> {
    vec![
        T::write(A, vec![0x0A]),
        T::read(A, vec![pid]),
        T::write(A, vec![0x0B]),
        T::read(A, vec![ver]),
        T::write(A, vec![0x1C]),
        T::read(A, vec![0x7F]),
        T::write(A, vec![0x1D]),
        T::read(A, vec![0xA2]),
    ]
}

#[test]
fn detect_reads_each_id_register_with_a_stop_in_between() {
    let mut i2c = Mock::new(&id_reads(0x76, 0x73));
    let id = Ov767x::new(&mut i2c, Sensor::Ov7675).detect().unwrap();
    assert_eq!((id.pid, id.ver), (0x76, 0x73));
    i2c.done();
}

#[test]
fn detect_refuses_an_ov2640_id() {
    // OV2640: PID 0x26, VER 0x42 (at another address on real boards; here the IDs).
    let mut i2c = Mock::new(&id_reads(0x26, 0x42));
    let r = Ov767x::new(&mut i2c, Sensor::Ov7675).detect();
    assert!(matches!(
        r,
        Err(Error::WrongChip {
            pid: 0x26,
            ver: 0x42,
            ..
        })
    ));
    i2c.done();
}

#[test]
fn a_write_is_one_transaction() {
    let mut i2c = Mock::new(&[T::write(A, vec![0x12, 0x80])]);
    Ov767x::new(&mut i2c, Sensor::Ov7670)
        .write(regs::COM7, regs::COM7_RESET)
        .unwrap();
    i2c.done();
}
