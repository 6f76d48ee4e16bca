//! Raw bindings to the C++ shim (src/shim/shim.h).
use std::os::raw::{c_char, c_void};

#[repr(C)]
pub struct T2AModule {
    _private: [u8; 0],
}

#[repr(C)]
pub struct T2ABuf {
    pub words: *mut i64,
    pub nwords: usize,
    pub tensors: *mut *mut c_void,
    pub ntensors: usize,
}

impl Default for T2ABuf {
    fn default() -> Self {
        T2ABuf {
            words: std::ptr::null_mut(),
            nwords: 0,
            tensors: std::ptr::null_mut(),
            ntensors: 0,
        }
    }
}

pub const TAG_NONE: i64 = 0;
pub const TAG_BOOL: i64 = 1;
pub const TAG_INT: i64 = 2;
pub const TAG_DOUBLE: i64 = 3;
pub const TAG_STR: i64 = 4;
pub const TAG_TENSOR: i64 = 5;
pub const TAG_LIST: i64 = 6;
pub const TAG_TUPLE: i64 = 7;
pub const TAG_DEVICE: i64 = 8;
pub const TAG_OBJECT: i64 = 9;
pub const TAG_OTHER: i64 = 10;
pub const TAG_DICT: i64 = 11;

extern "C" {
    pub fn t2a_free(p: *mut c_void);
    pub fn t2a_load(path: *const c_char, out: *mut *mut T2AModule, err: *mut *mut c_char) -> i32;
    pub fn t2a_module_free(m: *mut T2AModule);
    pub fn t2a_graph_json(m: *mut T2AModule, json: *mut *mut c_char, err: *mut *mut c_char) -> i32;
    pub fn t2a_module_json(m: *mut T2AModule, json: *mut *mut c_char, err: *mut *mut c_char)
        -> i32;
    pub fn t2a_module_attr(
        m: *mut T2AModule,
        path: *const c_char,
        out: *mut T2ABuf,
        err: *mut *mut c_char,
    ) -> i32;
    pub fn t2a_traced_inputs(m: *mut T2AModule, out: *mut T2ABuf, err: *mut *mut c_char) -> i32;
    pub fn t2a_set_tensor_budget(bytes: u64);
    pub fn t2a_tensor_is_meta(t: *mut c_void) -> i32;
    pub fn t2a_tensor_to_meta(t: *mut c_void, err: *mut *mut c_char) -> *mut c_void;
    pub fn t2a_tensor_storage_id(t: *mut c_void) -> u64;
    pub fn t2a_exec_node(
        m: *mut T2AModule,
        node: i64,
        words: *const i64,
        nwords: usize,
        tensors: *const *mut c_void,
        ntensors: usize,
        out: *mut T2ABuf,
        err: *mut *mut c_char,
    ) -> i32;
    pub fn t2a_forward(
        m: *mut T2AModule,
        words: *const i64,
        nwords: usize,
        tensors: *const *mut c_void,
        ntensors: usize,
        mutated: *mut i32,
        err: *mut *mut c_char,
    ) -> i32;
}
