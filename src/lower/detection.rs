//! torchvision's detection ops (loaded with `--load-library`): `torchvision::roi_align` →
//! ROIAlign, `torchvision::deform_conv2d` → DeformableConv2D, `torchvision::nms` →
//! NonMaxSuppressionV3 (its kept count is the sample's, a guard), on their CANN prototypes with the
//! attribute mapping torch_npu's adapters use (facts: ROIAlign's `roi_end_mode` is 2 for
//! `aligned=True` and 0 for `aligned=False`; DeformableConv2D's offsets are all x offsets, then
//! all y offsets, then the mask, along the channel dim).
use super::spatial::{back, work_dtype};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    r.add(
        "torchvision::roi_align",
        roi_align,
        "ROIAlign(features, rois [K, 5]; spatial_scale, pooled_height, pooled_width, sample_num=sampling_ratio, roi_end_mode=2 if aligned else 0)",
    );
    r.add(
        "torchvision::nms",
        nms,
        "NonMaxSuppressionV3(dets, scores, max_output_size=N (INT32), iou_threshold, score_threshold=-inf; offset=0) → Cast INT64; the kept count is the sample's (a guard: run refuses inputs that keep another count)",
    );
    r.add(
        "torchvision::deform_conv2d",
        deform_conv2d,
        "DeformableConv2D(x, filter, offsets=ConcatV2(GatherV2(offset, odd channels) (x), GatherV2(offset, even channels) (y), mask or OnesLike), bias; strides/pads/dilations NCHW, groups, deformable_groups, modulated=true, data_format=NCHW)",
    );
}

fn roi_align(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dt = work_dtype("ROIAlign", out);
    let x = c.tensor_as("input", dt)?;
    let rois = c.tensor_as("rois", dt)?;
    if c.rank("input")? != 4 {
        return Err("roi_align needs a 4-D NCHW input".into());
    }
    let ph = c.int("pooled_height")?;
    let pw = c.int("pooled_width")?;
    let sampling = c.int("sampling_ratio")?;
    if sampling < 0 {
        return Err(format!(
            "roi_align with sampling_ratio {sampling}: ROIAlign's sample_num takes 0 (adaptive) or a positive count"
        ));
    }
    let y = c.op1(
        "ROIAlign",
        vec![In::P(x), In::P(rois)],
        vec![
            (
                "spatial_scale",
                attr::float(c.float("spatial_scale")? as f32),
            ),
            ("pooled_height", attr::int(ph)),
            ("pooled_width", attr::int(pw)),
            ("sample_num", attr::int(sampling)),
            (
                "roi_end_mode",
                attr::int(if c.bool("aligned")? { 2 } else { 0 }),
            ),
        ],
        dt,
    )?;
    back(c, y, out)
}

fn deform_conv2d(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dt = work_dtype("DeformableConv2D", out);
    if c.rank("input")? != 4 {
        return Err("deform_conv2d needs a 4-D NCHW input".into());
    }
    let w_shape = c.in_shape("weight")?;
    let (kh, kw) = (w_shape[2], w_shape[3]);
    let dg = c.int("offset_groups")?;
    let kk = dg * kh * kw;
    let x = c.tensor_as("input", dt)?;
    let w = c.tensor_as("weight", dt)?;
    let offset = c.tensor_as("offset", dt)?;
    // torchvision interleaves (y, x) per kernel position; CANN takes every x, then every y.
    let axis = c.scalar_i64(1)?;
    let xs = c.const_i64(&(0..kk).map(|i| 2 * i + 1).collect::<Vec<_>>())?;
    let ys = c.const_i64(&(0..kk).map(|i| 2 * i).collect::<Vec<_>>())?;
    let ox = c.op1(
        "GatherV2",
        vec![In::P(offset), In::P(xs), In::P(axis)],
        vec![],
        dt,
    )?;
    let oy = c.op1(
        "GatherV2",
        vec![In::P(offset), In::P(ys), In::P(axis)],
        vec![],
        dt,
    )?;
    let mask = if c.bool("use_mask")? {
        c.tensor_as("mask", dt)?
    } else {
        c.un("OnesLike", oy, dt)?
    };
    let d = c.scalar_i64(1)?;
    let offsets = c.op1(
        "ConcatV2",
        vec![In::Dyn(vec![ox, oy, mask]), In::P(d)],
        vec![("N", attr::int(3))],
        dt,
    )?;
    let bias = c.tensor_as("bias", dt)?;
    let (sh, sw) = (c.int("stride_h")?, c.int("stride_w")?);
    let (ph, pw) = (c.int("pad_h")?, c.int("pad_w")?);
    let (dh, dw) = (c.int("dilation_h")?, c.int("dilation_w")?);
    let y = c.op1(
        "DeformableConv2D",
        vec![In::P(x), In::P(w), In::P(offsets), In::P(bias)],
        vec![
            ("strides", attr::list_int(vec![1, 1, sh, sw])),
            ("pads", attr::list_int(vec![ph, ph, pw, pw])),
            ("dilations", attr::list_int(vec![1, 1, dh, dw])),
            ("groups", attr::int(c.int("groups")?)),
            ("data_format", attr::string("NCHW")),
            ("deformable_groups", attr::int(dg)),
            ("modulated", attr::boolean(true)),
        ],
        dt,
    )?;
    back(c, y, out)
}

/// Greedy non-maximum suppression: boxes in score order, each dropped when its IoU with a kept
/// box exceeds the threshold. How many are kept depends on the data: the graph holds the
/// sample's count (`Ctx::data_dependent`).
fn nms(c: &mut Ctx) -> RuleResult {
    let dt = work_dtype("NonMaxSuppressionV3", c.in_dtype("dets")?);
    let boxes = c.tensor_as("dets", dt)?;
    let scores = c.tensor_as("scores", dt)?;
    let n = c.in_shape("dets")?[0];
    let max = c.scalar(n as f64, DType::I32)?;
    let iou = c.scalar(c.float("iou_threshold")?, dt)?;
    let floor = c.scalar(f64::NEG_INFINITY, dt)?;
    let idx = c.op1(
        "NonMaxSuppressionV3",
        vec![
            In::P(boxes),
            In::P(scores),
            In::P(max),
            In::P(iou),
            In::P(floor),
        ],
        vec![("offset", attr::int(0))],
        DType::I32,
    )?;
    let k = c.outputs[0].tensors()[0].tensor.size()[0];
    c.data_dependent(idx, &[k], format!("torchvision::nms kept {k} of {n} boxes"));
    Ok(vec![c.cast(idx, DType::I64)?])
}
