//! A restricted reader for the pickles of a TorchScript archive (`data.pkl`, `constants.pkl`):
//! exactly the protocol-2 opcodes libtorch's pickler writes (plus the few a Python pickler adds),
//! evaluated into a small value tree. Module objects (`GLOBAL` + `NEWOBJ` + `BUILD`) keep their
//! class and state; tensors (`torch._utils._rebuild_tensor_v2` over a `BINPERSID` storage) keep
//! their record key, dtype, storage offset, size and stride. Nothing is imported or called: an
//! unknown callable becomes a [`PVal::Call`] that no one reads.
//!
//! It also records where each storage's persistent id sits in the bytes, so that
//! [`meta_pickle`] can make a copy whose storages load on the meta device (see
//! `archive::ArchiveIndex::meta_copy`).
use std::cell::RefCell;
use std::rc::Rc;

/// A record of the archive that holds a storage: `('storage', <Dtype>Storage, key, location,
/// numel)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The storage class name without `Storage` (`Float`, `Long`, `BFloat16`, ...).
    pub dtype: String,
    pub key: String,
    pub location: String,
    /// Elements of the storage.
    pub numel: i64,
}

/// A tensor over a storage: `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    /// In elements.
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

/// An object built with `NEWOBJ`: its class (`__torch__.MLP`) and what `BUILD` gave it.
#[derive(Debug)]
pub struct Obj {
    pub class: String,
    pub state: PVal,
}

#[derive(Debug, Clone)]
pub enum PVal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<Vec<PVal>>),
    List(Rc<RefCell<Vec<PVal>>>),
    Dict(Rc<RefCell<Vec<(PVal, PVal)>>>),
    /// `module.name` of a `GLOBAL`.
    Global(Rc<str>),
    Object(Rc<RefCell<Obj>>),
    /// The result of calling a global that is not a tensor rebuild (not evaluated).
    Call(Rc<str>, Rc<Vec<PVal>>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl PVal {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PVal::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_int(&self) -> Option<i64> {
        match self {
            PVal::Int(i) => Some(*i),
            PVal::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    fn int_tuple(&self) -> Option<Vec<i64>> {
        match self {
            PVal::Tuple(v) => v.iter().map(PVal::as_int).collect(),
            PVal::List(v) => v.borrow().iter().map(PVal::as_int).collect(),
            _ => None,
        }
    }
}

/// Where a storage's persistent id tuple has its third element (the key) end: a copy that
/// inserts `'meta', numel` there makes libtorch read `location = 'meta'` (it reads the tuple's
/// elements 3 and 4; the original location and numel follow, unread).
#[derive(Debug, Clone)]
pub struct PersId {
    pub key: String,
    pub numel: i64,
    pub after_key: usize,
}

/// A pickle evaluated: its value and its storages' persistent ids.
pub struct Unpickled {
    pub value: PVal,
    pub persids: Vec<PersId>,
}

struct Item {
    v: PVal,
    /// Byte offset just after the last opcode that pushed or memoized this item.
    end: usize,
    /// For a tuple: each element's `end`.
    ends: Option<Vec<usize>>,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    name: &'a str,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> String {
        format!("{} (byte {} of {})", what, self.pos, self.name)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| self.err("the pickle ends in the middle of an opcode"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .position(|c| *c == b'\n')
            .ok_or_else(|| self.err("a GLOBAL name has no end of line"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err("a name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn utf8(&mut self, n: usize) -> Result<PVal, String> {
        let s = self.take(n)?;
        let s = std::str::from_utf8(s).map_err(|_| self.err("a string is not UTF-8"))?;
        Ok(PVal::Str(s.into()))
    }
}

/// Evaluates a pickle. `name` names it in errors.
pub fn unpickle(bytes: &[u8], name: &str) -> Result<Unpickled, String> {
    let mut r = Reader {
        b: bytes,
        pos: 0,
        name,
    };
    let mut stack: Vec<Item> = vec![];
    let mut marks: Vec<usize> = vec![];
    let mut memo: std::collections::HashMap<u32, PVal> = Default::default();
    let mut persids = vec![];
    loop {
        let at = r.pos;
        let op = r.u8()?;
        let under = |r: &Reader, what: &str| r.err(&format!("opcode {what} on too short a stack"));
        let pop = |stack: &mut Vec<Item>, r: &Reader, what: &str| {
            stack.pop().ok_or_else(|| under(r, what))
        };
        let since_mark = |stack: &mut Vec<Item>, marks: &mut Vec<usize>, r: &Reader| {
            let m = marks.pop().ok_or_else(|| r.err("a mark was expected"))?;
            if m > stack.len() {
                return Err(r.err("a mark points past the stack"));
            }
            Ok::<Vec<Item>, String>(stack.split_off(m))
        };
        let v = match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(r.err(&format!("pickle protocol {proto} is not one torch writes")));
                }
                continue;
            }
            b'.' => {
                let top = stack.pop().ok_or_else(|| r.err("STOP on an empty stack"))?;
                return Ok(Unpickled {
                    value: top.v,
                    persids,
                });
            }
            0x95 => {
                r.take(8)?;
                continue;
            }
            b'(' => {
                marks.push(stack.len());
                continue;
            }
            b'0' => {
                pop(&mut stack, &r, "POP")?;
                continue;
            }
            b'1' => {
                since_mark(&mut stack, &mut marks, &r)?;
                continue;
            }
            b'2' => {
                let top = stack.last().ok_or_else(|| under(&r, "DUP"))?;
                PVal::clone(&top.v)
            }
            b'N' => PVal::None,
            0x88 => PVal::Bool(true),
            0x89 => PVal::Bool(false),
            b'K' => PVal::Int(r.u8()? as i64),
            b'M' => PVal::Int(r.u16()? as i64),
            b'J' => PVal::Int(r.u32()? as i32 as i64),
            0x8a => {
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err(r.err("an integer wider than 64 bits"));
                }
                let mut v: i64 = 0;
                for (i, byte) in b.iter().enumerate() {
                    v |= (*byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                PVal::Int(v)
            }
            b'G' => PVal::Float(f64::from_be_bytes(r.take(8)?.try_into().unwrap())),
            b'X' => {
                let n = r.u32()? as usize;
                r.utf8(n)?
            }
            0x8c => {
                let n = r.u8()? as usize;
                r.utf8(n)?
            }
            b'B' => {
                let n = r.u32()? as usize;
                PVal::Bytes(r.take(n)?.into())
            }
            b'C' => {
                let n = r.u8()? as usize;
                PVal::Bytes(r.take(n)?.into())
            }
            b')' => PVal::Tuple(Rc::new(vec![])),
            b't' | 0x85 | 0x86 | 0x87 => {
                let items = match op {
                    b't' => since_mark(&mut stack, &mut marks, &r)?,
                    _ => {
                        let n = (op - 0x84) as usize;
                        if stack.len() < n {
                            return Err(under(&r, "TUPLE"));
                        }
                        stack.split_off(stack.len() - n)
                    }
                };
                let ends = items.iter().map(|i| i.end).collect();
                let v = PVal::Tuple(Rc::new(items.into_iter().map(|i| i.v).collect()));
                stack.push(Item {
                    v,
                    end: r.pos,
                    ends: Some(ends),
                });
                continue;
            }
            b']' => PVal::List(Default::default()),
            b'l' => {
                let items = since_mark(&mut stack, &mut marks, &r)?;
                PVal::List(Rc::new(RefCell::new(
                    items.into_iter().map(|i| i.v).collect(),
                )))
            }
            b'a' | b'e' => {
                let items = if op == b'a' {
                    vec![pop(&mut stack, &r, "APPEND")?]
                } else {
                    since_mark(&mut stack, &mut marks, &r)?
                };
                let list = stack.last().ok_or_else(|| under(&r, "APPENDS"))?;
                match &list.v {
                    PVal::List(l) => l.borrow_mut().extend(items.into_iter().map(|i| i.v)),
                    _ => return Err(r.err("APPEND to something that is not a list")),
                }
                continue;
            }
            b'}' => PVal::Dict(Default::default()),
            b'd' => {
                let items = since_mark(&mut stack, &mut marks, &r)?;
                PVal::Dict(Rc::new(RefCell::new(pairs(items))))
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = pop(&mut stack, &r, "SETITEM")?;
                    let k = pop(&mut stack, &r, "SETITEM")?;
                    vec![k, v]
                } else {
                    since_mark(&mut stack, &mut marks, &r)?
                };
                let dict = stack.last().ok_or_else(|| under(&r, "SETITEMS"))?;
                match &dict.v {
                    PVal::Dict(d) => d.borrow_mut().extend(pairs(items)),
                    _ => return Err(r.err("SETITEM on something that is not a dict")),
                }
                continue;
            }
            b'q' | b'r' | 0x94 => {
                let idx = match op {
                    b'q' => r.u8()? as u32,
                    b'r' => r.u32()?,
                    _ => memo.len() as u32,
                };
                let top = stack.last_mut().ok_or_else(|| under(&r, "BINPUT"))?;
                memo.insert(idx, top.v.clone());
                top.end = r.pos;
                continue;
            }
            b'h' | b'j' => {
                let idx = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                memo.get(&idx)
                    .cloned()
                    .ok_or_else(|| r.err(&format!("memo entry {idx} is read before it is set")))?
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                PVal::Global(format!("{module}.{name}").into())
            }
            0x93 => {
                let name = pop(&mut stack, &r, "STACK_GLOBAL")?;
                let module = pop(&mut stack, &r, "STACK_GLOBAL")?;
                match (module.v.as_str(), name.v.as_str()) {
                    (Some(m), Some(n)) => PVal::Global(format!("{m}.{n}").into()),
                    _ => return Err(r.err("STACK_GLOBAL of non-strings")),
                }
            }
            b'Q' => {
                let t = pop(&mut stack, &r, "BINPERSID")?;
                let storage = persistent_storage(&t.v)
                    .ok_or_else(|| r.err("a persistent id that is not a ('storage', ...) tuple"))?;
                if let Some(ends) = &t.ends {
                    persids.push(PersId {
                        key: storage.key.clone(),
                        numel: storage.numel,
                        after_key: ends[2],
                    });
                }
                PVal::Storage(Rc::new(storage))
            }
            b'R' => {
                let args = pop(&mut stack, &r, "REDUCE")?;
                let f = pop(&mut stack, &r, "REDUCE")?;
                let PVal::Global(g) = &f.v else {
                    return Err(r.err("REDUCE of something that is not a global"));
                };
                let args = match args.v {
                    PVal::Tuple(a) => a,
                    _ => return Err(r.err("REDUCE with arguments that are not a tuple")),
                };
                if &**g == "torch._utils._rebuild_tensor_v2" {
                    PVal::Tensor(Rc::new(
                        rebuild_tensor(&args)
                            .ok_or_else(|| r.err("a malformed _rebuild_tensor_v2"))?,
                    ))
                } else {
                    PVal::Call(g.clone(), args)
                }
            }
            0x81 => {
                let _args = pop(&mut stack, &r, "NEWOBJ")?;
                let cls = pop(&mut stack, &r, "NEWOBJ")?;
                let PVal::Global(g) = &cls.v else {
                    return Err(r.err("NEWOBJ of something that is not a class"));
                };
                PVal::Object(Rc::new(RefCell::new(Obj {
                    class: g.to_string(),
                    state: PVal::None,
                })))
            }
            b'b' => {
                let state = pop(&mut stack, &r, "BUILD")?;
                let obj = stack.last().ok_or_else(|| under(&r, "BUILD"))?;
                if let PVal::Object(o) = &obj.v {
                    o.borrow_mut().state = state.v;
                }
                continue;
            }
            other => {
                return Err(format!(
                "pickle opcode 0x{other:02x} at byte {at} of {name} is not one TorchScript writes"
            ))
            }
        };
        stack.push(Item {
            v,
            end: r.pos,
            ends: None,
        });
    }
}

fn pairs(items: Vec<Item>) -> Vec<(PVal, PVal)> {
    let mut out = vec![];
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k.v, v.v));
    }
    out
}

fn persistent_storage(v: &PVal) -> Option<StorageRef> {
    let PVal::Tuple(t) = v else { return None };
    if t.len() < 5 || t[0].as_str() != Some("storage") {
        return None;
    }
    let PVal::Global(cls) = &t[1] else {
        return None;
    };
    let dtype = cls.rsplit('.').next()?.strip_suffix("Storage")?.to_string();
    Some(StorageRef {
        dtype,
        key: t[2].as_str()?.to_string(),
        location: t[3].as_str()?.to_string(),
        numel: t[4].as_int()?,
    })
}

fn rebuild_tensor(args: &[PVal]) -> Option<TensorRef> {
    let PVal::Storage(s) = args.first()? else {
        return None;
    };
    Some(TensorRef {
        storage: s.clone(),
        offset: args.get(1)?.as_int()?,
        size: args.get(2)?.int_tuple()?,
        stride: args.get(3)?.int_tuple()?,
    })
}

/// A copy of a pickle in which every storage reads `location = 'meta'` (libtorch then makes a
/// meta tensor of the recorded size and stride; it reads the storage's record, which the meta
/// copy of the archive holds empty, and never its bytes).
pub fn meta_pickle(bytes: &[u8], persids: &[PersId]) -> Vec<u8> {
    let mut at: Vec<(usize, i64)> = persids.iter().map(|p| (p.after_key, p.numel)).collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(bytes.len() + at.len() * 20);
    let mut from = 0;
    for (a, numel) in at {
        out.extend_from_slice(&bytes[from..a]);
        out.extend_from_slice(b"X\x04\x00\x00\x00meta");
        match i32::try_from(numel) {
            Ok(n) => {
                out.push(b'J');
                out.extend_from_slice(&n.to_le_bytes());
            }
            Err(_) => {
                out.extend_from_slice(&[0x8a, 8]);
                out.extend_from_slice(&numel.to_le_bytes());
            }
        }
        from = a;
    }
    out.extend_from_slice(&bytes[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ints_strings_and_containers() {
        // (1, -2, 300, 'ab', [True], {'k': None}) as protocol 2
        let p = b"\x80\x02(K\x01J\xfe\xff\xff\xffM,\x01X\x02\x00\x00\x00ab]q\x00\x88a}(X\x01\x00\x00\x00kNutq\x01.";
        let u = unpickle(p, "t").unwrap();
        let PVal::Tuple(t) = u.value else { panic!() };
        assert_eq!(t.len(), 6);
        assert_eq!(t[0].as_int(), Some(1));
        assert_eq!(t[1].as_int(), Some(-2));
        assert_eq!(t[2].as_int(), Some(300));
        assert_eq!(t[3].as_str(), Some("ab"));
        let PVal::List(l) = &t[4] else { panic!() };
        assert!(matches!(l.borrow()[0], PVal::Bool(true)));
        let PVal::Dict(d) = &t[5] else { panic!() };
        assert_eq!(d.borrow()[0].0.as_str(), Some("k"));
    }

    #[test]
    fn long1_is_signed() {
        let u = unpickle(b"\x80\x02\x8a\x02\x00\xff.", "t").unwrap();
        assert_eq!(u.value.as_int(), Some(-256));
        let u = unpickle(b"\x80\x02\x8a\x05\x00\x00\x00\x00\x01.", "t").unwrap();
        assert_eq!(u.value.as_int(), Some(1 << 32));
    }

    #[test]
    fn unknown_opcodes_and_truncation_are_errors() {
        let e = unpickle(b"\x80\x02i", "x.pkl").err().unwrap();
        assert!(e.contains("0x69") && e.contains("x.pkl"), "{e}");
        let e = unpickle(b"\x80\x02X\x09\x00\x00\x00ab", "x.pkl")
            .err()
            .unwrap();
        assert!(e.contains("ends in the middle"), "{e}");
    }
}
