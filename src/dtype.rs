//! Element types: torch kinds, GE's two DataType numberings (air-format.md section 12.1), and
//! the short names used in input SPECs.
use tch::Kind;

/// An element type torch2air exports, runs and reads (`f32` etc. in SPECs and output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float (`torch.float32`, GE `DT_FLOAT`).
    F32,
    /// 16-bit float (`torch.float16`, GE `DT_FLOAT16`).
    F16,
    /// bfloat16 (`torch.bfloat16`, GE `DT_BF16`).
    BF16,
    /// 64-bit float (`torch.float64`, GE `DT_DOUBLE`).
    F64,
    /// 64-bit signed int (`torch.int64`, GE `DT_INT64`).
    I64,
    /// 32-bit signed int (`torch.int32`, GE `DT_INT32`).
    I32,
    /// 16-bit signed int (`torch.int16`, GE `DT_INT16`).
    I16,
    /// 8-bit signed int (`torch.int8`, GE `DT_INT8`).
    I8,
    /// 8-bit unsigned int (`torch.uint8`, GE `DT_UINT8`).
    U8,
    /// Boolean (`torch.bool`, GE `DT_BOOL`).
    Bool,
}

pub const ALL: [DType; 10] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U8,
    DType::Bool,
];

impl DType {
    /// The DType of a tch `Kind`, if torch2air handles it.
    pub fn from_kind(k: Kind) -> Option<DType> {
        Some(match k {
            Kind::Float => DType::F32,
            Kind::Half => DType::F16,
            Kind::BFloat16 => DType::BF16,
            Kind::Double => DType::F64,
            Kind::Int64 => DType::I64,
            Kind::Int => DType::I32,
            Kind::Int16 => DType::I16,
            Kind::Int8 => DType::I8,
            Kind::Uint8 => DType::U8,
            Kind::Bool => DType::Bool,
            _ => return None,
        })
    }

    /// The tch `Kind` of this DType.
    pub fn kind(self) -> Kind {
        match self {
            DType::F32 => Kind::Float,
            DType::F16 => Kind::Half,
            DType::BF16 => Kind::BFloat16,
            DType::F64 => Kind::Double,
            DType::I64 => Kind::Int64,
            DType::I32 => Kind::Int,
            DType::I16 => Kind::Int16,
            DType::I8 => Kind::Int8,
            DType::U8 => Kind::Uint8,
            DType::Bool => Kind::Bool,
        }
    }

    /// ge::DataType (C++ numbering), used in attribute values (`dt`, `Cast.dst_type`).
    pub fn ge_cpp(self) -> i64 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::I8 => 2,
            DType::I32 => 3,
            DType::U8 => 4,
            DType::I16 => 6,
            DType::I64 => 9,
            DType::F64 => 11,
            DType::Bool => 12,
            DType::BF16 => 27,
        }
    }

    /// ge.proto.DataType (proto numbering), used in TensorDescriptor.dtype.
    pub fn ge_proto(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::F16 => 2,
            DType::I8 => 3,
            DType::U8 => 4,
            DType::I16 => 5,
            DType::I32 => 7,
            DType::I64 => 8,
            DType::Bool => 11,
            DType::F64 => 12,
            DType::BF16 => 27,
        }
    }

    /// The DType of a ge.proto.DataType number.
    pub fn from_ge_proto(v: i32) -> Option<DType> {
        ALL.iter().copied().find(|d| d.ge_proto() == v)
    }

    /// The DType of a ge::DataType (C++) number.
    pub fn from_ge_cpp(v: i64) -> Option<DType> {
        ALL.iter().copied().find(|d| d.ge_cpp() == v)
    }

    /// The `DT_*` name used in ge_ops.json.
    pub fn ge_name(self) -> &'static str {
        match self {
            DType::F32 => "DT_FLOAT",
            DType::F16 => "DT_FLOAT16",
            DType::BF16 => "DT_BF16",
            DType::F64 => "DT_DOUBLE",
            DType::I64 => "DT_INT64",
            DType::I32 => "DT_INT32",
            DType::I16 => "DT_INT16",
            DType::I8 => "DT_INT8",
            DType::U8 => "DT_UINT8",
            DType::Bool => "DT_BOOL",
        }
    }

    /// The DType of a `DT_*` name.
    pub fn from_ge_name(s: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.ge_name() == s)
    }

    /// SPEC name: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I16 => "i16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// The DType of a SPEC name (`f32`, ...).
    pub fn from_name(s: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.name() == s)
    }

    /// The DType of a TorchScript scalar type name (`Float`, `Long`, ...: a graph's tensor types,
    /// an archive's storage classes without their `Storage` suffix).
    pub fn from_torch_name(s: &str) -> Option<DType> {
        Some(match s {
            "Float" => DType::F32,
            "Double" => DType::F64,
            "Half" => DType::F16,
            "BFloat16" => DType::BF16,
            "Long" => DType::I64,
            "Int" => DType::I32,
            "Short" => DType::I16,
            "Char" => DType::I8,
            "Byte" => DType::U8,
            "Bool" => DType::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Whether it is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }
}

/// A tensor's dtype and shape as every command spells them: `f32[2, 4]` (a kind GE exports do
/// not cover keeps libtorch's name).
pub fn spelled(t: &tch::Tensor) -> String {
    let dt = DType::from_kind(t.kind())
        .map(|d| d.name().to_string())
        .unwrap_or_else(|| format!("{:?}", t.kind()));
    format!("{dt}{:?}", t.size())
}

/// The element type of a tensor, or a clear message for kinds GE exports do not cover.
pub fn of_tensor(t: &tch::Tensor) -> Result<DType, String> {
    DType::from_kind(t.kind()).ok_or_else(|| {
        format!("tensors of dtype {:?} are not supported (supported: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool)", t.kind())
    })
}
