//! Register plans: a start-up written as a list of register writes (and bounded
//! waits), each with the source that asks for it, run by an executor over anything
//! that implements [`Registers`]. On the board the executor writes the registers
//! (volatile accesses, `target::mmio`); on the host a recording fake checks the exact
//! sequence.
//!
//! A [`Step`] can only be made in this crate, from the addresses in [`crate::regs`]
//! (checked against the nRF52840 PAC by the host tests), so running a plan never
//! writes an address that is not an nRF52840 register.

/// A 32-bit register of the nRF52840: its address and its name in the Product
/// Specification (for logs and test failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    /// Absolute address.
    pub addr: u32,
    /// Name, e.g. `UARTE0.ENABLE`.
    pub name: &'static str,
}

/// What a [`Step`] does to its register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write the value.
    Write(u32),
    /// Read until the register is non-zero (an event has fired), at most `polls`
    /// reads; then carry on either way ([`Outcome::waits_timed_out`] counts it).
    WaitNonZero {
        /// Most reads.
        polls: u32,
    },
}

/// One step of a plan: a register, what to do to it, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    reg: Reg,
    op: Op,
    source: &'static str,
}

impl Step {
    /// A write of `value` to `reg`, asked for by `source`.
    pub(crate) const fn write(reg: Reg, value: u32, source: &'static str) -> Self {
        Self {
            reg,
            op: Op::Write(value),
            source,
        }
    }

    /// A bounded wait for `reg` to read non-zero.
    pub(crate) const fn wait(reg: Reg, polls: u32, source: &'static str) -> Self {
        Self {
            reg,
            op: Op::WaitNonZero { polls },
            source,
        }
    }

    /// The register.
    pub fn reg(&self) -> Reg {
        self.reg
    }

    /// What the step does.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The document (section) or source file that asks for the step.
    pub fn source(&self) -> &'static str {
        self.source
    }
}

/// Where a plan's reads and writes go: the hardware, or a fake on the host.
pub trait Registers {
    /// Writes `value` to the register at `addr`.
    fn write(&mut self, addr: u32, value: u32);
    /// Reads the register at `addr`.
    fn read(&mut self, addr: u32) -> u32;
}

/// What running a plan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Writes done.
    pub writes: u32,
    /// Bounded waits that ran out (the event never came); the plan went on.
    pub waits_timed_out: u32,
}

/// Runs `steps` in order on `regs`. Every wait is bounded, so this always returns.
pub fn run(steps: &[Step], regs: &mut impl Registers) -> Outcome {
    let mut outcome = Outcome::default();
    for step in steps {
        match step.op {
            Op::Write(value) => {
                regs.write(step.reg.addr, value);
                outcome.writes += 1;
            }
            Op::WaitNonZero { polls } => {
                if !(0..polls).any(|_| regs.read(step.reg.addr) != 0) {
                    outcome.waits_timed_out += 1;
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
pub(crate) mod fake {
    //! A recording fake of the registers, for the host tests.
    use std::collections::HashMap;
    use std::vec::Vec;

    use super::Registers;

    /// One access the fake saw.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Access {
        Write(u32, u32),
        Read(u32),
    }

    /// Records every access; a read returns what was last written, or the value
    /// `reads` gives from the `after`-th read of that address on.
    #[derive(Debug, Default)]
    pub struct Recorder {
        pub log: Vec<Access>,
        pub values: HashMap<u32, u32>,
        /// (address, reads before it turns non-zero, value then)
        pub fires: Vec<(u32, usize, u32)>,
    }

    impl Recorder {
        /// The writes only, in order.
        pub fn writes(&self) -> Vec<(u32, u32)> {
            self.log
                .iter()
                .filter_map(|a| match *a {
                    Access::Write(addr, v) => Some((addr, v)),
                    Access::Read(_) => None,
                })
                .collect()
        }

        /// How many reads of `addr`.
        pub fn reads(&self, addr: u32) -> usize {
            self.log
                .iter()
                .filter(|a| **a == Access::Read(addr))
                .count()
        }
    }

    impl Registers for Recorder {
        fn write(&mut self, addr: u32, value: u32) {
            self.log.push(Access::Write(addr, value));
            self.values.insert(addr, value);
        }

        fn read(&mut self, addr: u32) -> u32 {
            let before = self.reads(addr);
            self.log.push(Access::Read(addr));
            for &(a, after, v) in &self.fires {
                if a == addr && before >= after {
                    return v;
                }
            }
            self.values.get(&addr).copied().unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{Access, Recorder};
    use super::*;

    const A: Reg = Reg {
        addr: 0x4000_0100,
        name: "A",
    };
    const B: Reg = Reg {
        addr: 0x4000_0200,
        name: "B",
    };

    #[test]
    fn writes_run_in_order_and_are_counted() {
        let plan = [
            Step::write(A, 1, "test"),
            Step::write(B, 2, "test"),
            Step::write(A, 3, "test"),
        ];
        let mut regs = Recorder::default();
        assert_eq!(
            run(&plan, &mut regs),
            Outcome {
                writes: 3,
                waits_timed_out: 0
            }
        );
        assert_eq!(regs.writes(), [(A.addr, 1), (B.addr, 2), (A.addr, 3)]);
    }

    #[test]
    fn a_wait_stops_when_the_event_fires() {
        let plan = [Step::wait(A, 100, "test"), Step::write(B, 1, "test")];
        let mut regs = Recorder {
            fires: std::vec![(A.addr, 4, 1)],
            ..Recorder::default()
        };
        let outcome = run(&plan, &mut regs);
        assert_eq!(outcome.waits_timed_out, 0);
        assert_eq!(regs.reads(A.addr), 5);
        assert_eq!(regs.log.last(), Some(&Access::Write(B.addr, 1)));
    }

    #[test]
    fn a_wait_is_bounded_and_the_plan_goes_on() {
        let plan = [Step::wait(A, 7, "test"), Step::write(B, 1, "test")];
        let mut regs = Recorder::default();
        let outcome = run(&plan, &mut regs);
        assert_eq!(
            outcome,
            Outcome {
                writes: 1,
                waits_timed_out: 1
            }
        );
        assert_eq!(regs.reads(A.addr), 7);
    }
}
