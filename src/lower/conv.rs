//! Convolutions (`Conv2D`, `Conv2DTranspose`), 1-D ones through a height of 1.
use super::spatial::{back, input_dtype, spatial, squeeze, unsqueeze, work_dtype};
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};
use crate::value::Value;

pub fn register(r: &mut Rules) {
    let conv = "transposed=false: Conv2D(x, filter, bias?; strides=[1,1,s..], pads=[t,b,l,r], dilations=[1,1,d..], groups, data_format=NCHW); 1-D: Unsqueeze(axes=[2]) on x and weight → Conv2D → Squeeze(axis=[2]); 3-D: Conv3D(x, filter, bias?; strides=[1,1,d,h,w], pads=[f,b,t,b,l,r], dilations, groups, data_format=NCDHW; FLOAT as TorchAir emits it, though the prototype lists FLOAT16); padding='same'|'valid' (_convolution_mode): the pads they mean; unbatched: Unsqueeze/Squeeze 0; f64 runs in FLOAT (Cast in/out): the prototype lacks it";
    r.add("aten::_convolution", convolution, conv);
    r.add("aten::convolution", convolution, conv);
    r.add("aten::conv2d", convolution, conv);
    r.add("aten::conv1d", convolution, conv);
    r.add("aten::conv3d", convolution, conv);
    r.add("aten::_convolution_mode", convolution, conv);
    let convt = "Conv2DTranspose(input_size=K32(output shape); dynamic: Cast(Pack(Gather(Shape(x), 0), C, Gather(Shape(x), i)·s + k', ..), INT32), x, filter, bias?; strides, pads=[t,b,l,r], dilations, groups, output_padding=[0,0,oh,ow], data_format=NCHW); 1-D via Unsqueeze/Squeeze at 2 (also aten::_convolution with transposed=true); as TorchAir, also for FLOAT, which the prototype's x/filter type lists omit (export warns)";
    r.add("aten::conv_transpose1d", convolution, convt);
    r.add("aten::conv_transpose2d.input", convolution, convt);
    r.add(
        "aten::conv_transpose3d.input",
        convolution,
        "Conv3DTranspose(input_size=K32(output shape), x, filter, bias?; strides=[1,1,d,h,w], pads=[f,f,t,t,l,l], dilations, groups, output_padding=[0,0,d,h,w], data_format=NCDHW) (also aten::_convolution with transposed=true and a 5-D weight); dynamic: input_size computed as for Conv2DTranspose; FLOAT as for Conv2DTranspose",
    );
}

fn convolution(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("Conv2D", res);
    // Only its rank is used: batch and spatial dims may be dynamic.
    let xs = c.in_desc_shape("input")?;
    let ws = c.in_shape("weight")?;
    let nsp = ws.len().saturating_sub(2);
    let transposed = c.node.op_name().starts_with("aten::conv_transpose")
        || (c.has("transposed") && c.bool("transposed")?);
    if !(1..=3).contains(&nsp) {
        return Err(format!(
            "only 1-D, 2-D and 3-D convolutions are lowered (weight {ws:?})"
        ));
    }
    if !out.is_float() {
        return Err(format!(
            "convolution of {} tensors: GE's Conv2D takes float inputs",
            out.name()
        ));
    }
    let batched = xs.len() == ws.len();
    let stride = spatial(c, "stride", nsp, None)?;
    let dilation = spatial(c, "dilation", nsp, None)?;
    // Pads as (begin, end) per spatial dim; `padding="same"|"valid"` is the conv*.padding overload.
    let pads: Vec<(i64, i64)> = match c.arg("padding")? {
        Value::Str(s) if s == "valid" => vec![(0, 0); nsp],
        Value::Str(s) if s == "same" => (0..nsp)
            .map(|i| {
                let total = dilation[i] * (ws[2 + i] - 1);
                (total / 2, total - total / 2)
            })
            .collect(),
        Value::Str(s) => return Err(format!("padding='{s}' is not 'same' or 'valid'")),
        _ => spatial(c, "padding", nsp, None)?
            .into_iter()
            .map(|p| (p, p))
            .collect(),
    };
    let groups = c.int("groups")?;
    let mut x = c.tensor_as("input", out)?;
    let mut w = c.tensor_as("weight", out)?;
    let bias = if c.has("bias") {
        // Conv2D's bias has no BF16: a bf16 conv takes a FLOAT bias.
        In::P(c.tensor_as("bias", input_dtype("Conv2D", Some("bias"), out))?)
    } else {
        In::Unfed
    };
    if !batched {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    if nsp == 3 {
        let mut attrs = vec![
            (
                "strides",
                attr::list_int(vec![1, 1, stride[0], stride[1], stride[2]]),
            ),
            (
                "pads",
                attr::list_int(vec![
                    pads[0].0, pads[0].1, pads[1].0, pads[1].1, pads[2].0, pads[2].1,
                ]),
            ),
            (
                "dilations",
                attr::list_int(vec![1, 1, dilation[0], dilation[1], dilation[2]]),
            ),
            ("groups", attr::int(groups)),
            ("data_format", attr::string("NCDHW")),
        ];
        let mut y = if transposed {
            let op = spatial(c, "output_padding", 3, None)?;
            attrs.push((
                "output_padding",
                attr::list_int(vec![0, 0, op[0], op[1], op[2]]),
            ));
            let size = transpose_input_size(c, &ws, &stride, &pads, &dilation, &op, batched)?;
            c.op1(
                "Conv3DTranspose",
                vec![In::P(size), In::P(x), In::P(w), bias],
                attrs,
                out,
            )?
        } else {
            c.op1("Conv3D", vec![In::P(x), In::P(w), bias], attrs, out)?
        };
        if !batched {
            y = squeeze(c, y, vec![0], out)?;
        }
        return back(c, y, res);
    }
    let (strides, ge_pads, dilations) = if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
        w = unsqueeze(c, w, vec![2], out)?;
        (
            vec![1, 1, 1, stride[0]],
            vec![0, 0, pads[0].0, pads[0].1],
            vec![1, 1, 1, dilation[0]],
        )
    } else {
        (
            vec![1, 1, stride[0], stride[1]],
            vec![pads[0].0, pads[0].1, pads[1].0, pads[1].1],
            vec![1, 1, dilation[0], dilation[1]],
        )
    };
    let mut attrs = vec![
        ("strides", attr::list_int(strides)),
        ("pads", attr::list_int(ge_pads)),
        ("dilations", attr::list_int(dilations)),
        ("groups", attr::int(groups)),
        ("data_format", attr::string("NCHW")),
    ];
    let mut y = if transposed {
        let mut op = spatial(c, "output_padding", nsp, None)?;
        if nsp == 1 {
            op.insert(0, 0);
        }
        attrs.push(("output_padding", attr::list_int(vec![0, 0, op[0], op[1]])));
        let size = transpose_input_size(c, &ws, &stride, &pads, &dilation, &op, batched)?;
        c.op1(
            "Conv2DTranspose",
            vec![In::P(size), In::P(x), In::P(w), bias],
            attrs,
            out,
        )?
    } else {
        c.op1("Conv2D", vec![In::P(x), In::P(w), bias], attrs, out)?
    };
    if nsp == 1 {
        y = squeeze(c, y, vec![2], out)?;
    }
    if !batched {
        y = squeeze(c, y, vec![0], out)?;
    }
    back(c, y, res)
}

/// Conv2DTranspose's (and Conv3DTranspose's) `input_size`: the 4-D (5-D) output shape as INT32 (unbatched and 1-D outputs get
/// their 1s). A Const when the output is static; else, as TorchAir, computed from `Shape(input)`:
/// the batch dim itself and each spatial dim `(size - 1)·stride - pad_begin - pad_end +
/// dilation·(kernel - 1) + output_padding + 1`, then `Pack` and `Cast`.
fn transpose_input_size(
    c: &mut Ctx,
    ws: &[i64],
    stride: &[i64],
    pads: &[(i64, i64)],
    dilation: &[i64],
    out_pad: &[i64],
    batched: bool,
) -> Result<crate::value::Port, String> {
    let nsp = ws.len() - 2;
    let dynamic = c.out_dynamic(0)?;
    let mut shape = c.out_desc_shape(0)?;
    if !dynamic.iter().any(|d| *d) {
        if !batched {
            shape.insert(0, 1);
        }
        if nsp == 1 {
            shape.insert(2, 1);
        }
        let os: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        return c
            .b
            .constant(&tch::Tensor::from_slice(&os), &format!("{os:?}"));
    }
    // `out_pad` has a leading 0 for 1-D (the height of 1).
    let out_pad = &out_pad[out_pad.len() - nsp..];
    let lead = usize::from(batched);
    let mut dims = vec![];
    for (j, is_dyn) in dynamic.iter().enumerate() {
        dims.push(if !is_dyn {
            c.scalar_i64(shape[j])?
        } else if batched && j == 0 {
            c.dim_port("input", 0)?
        } else if j > lead {
            let i = j - lead - 1;
            let n = c.dim_port("input", j)?;
            let s = c.scalar_i64(stride[i])?;
            let n = c.bin("Mul", n, s, crate::dtype::DType::I64)?;
            let k =
                -stride[i] - pads[i].0 - pads[i].1 + dilation[i] * (ws[2 + i] - 1) + out_pad[i] + 1;
            let k = c.scalar_i64(k)?;
            c.bin("Add", n, k, crate::dtype::DType::I64)?
        } else {
            // The channels come from the weight's shape (a weight given as an input with dynamic
            // dims): taken as a constant, so those dims are pinned (with a note).
            let ch = c.outputs[0].tensors()[0].tensor.size()[j];
            c.bake(format!(
                "{} takes the output channels as the constant {ch}",
                c.node.op_name()
            ));
            c.scalar_i64(ch)?
        });
    }
    if !batched {
        dims.insert(0, c.scalar_i64(1)?);
    }
    if nsp == 1 {
        dims.insert(2, c.scalar_i64(1)?);
    }
    let packed = super::sym::pack(c.b, dims)?;
    c.cast(packed, crate::dtype::DType::I32)
}
