//! Detection ops: ROIAlign and DeformableConv2D (NCHW), computed from their definitions with
//! libtorch tensor ops (no torchvision needed at run time).
use super::spatial::{need_float, rank4, torch_err};
use super::KCtx;
use tch::{Kind, Tensor};

type R = Result<Vec<Tensor>, String>;

pub fn register(m: &mut std::collections::BTreeMap<&'static str, super::Kernel>) {
    m.insert("ROIAlign", roi_align);
    m.insert("DeformableConv2D", deformable_conv2d);
    m.insert("NonMaxSuppressionV3", non_max_suppression_v3);
}

/// NonMaxSuppressionV3: the indices (INT32) of the boxes kept by greedy suppression, in score
/// order: a box is a candidate when its score exceeds `score_threshold`, and is dropped when its
/// IoU with a box already kept exceeds `iou_threshold`; at most `max_output_size`. A box's
/// corners may come in either order (min/max per axis); `offset` 1 adds a pixel to each side.
fn non_max_suppression_v3(c: &KCtx) -> R {
    let boxes = c.input("boxes")?;
    let scores = c.input("scores")?;
    if boxes.dim() != 2 || boxes.size()[1] != 4 || scores.size() != [boxes.size()[0]] {
        return Err(format!(
            "boxes {:?} and scores {:?}: they must be [N, 4] and [N]",
            boxes.size(),
            scores.size()
        ));
    }
    let max = values(c.input("max_output_size")?)?;
    let [max] = max.as_slice() else {
        return Err("max_output_size must hold one value".into());
    };
    let iou_t = values(c.input("iou_threshold")?)?;
    let score_t = values(c.input("score_threshold")?)?;
    let (Some(&iou_t), Some(&score_t)) = (iou_t.first(), score_t.first()) else {
        return Err("iou_threshold and score_threshold must hold one value each".into());
    };
    let off = c.int("offset")? as f64;
    let b = values(boxes)?;
    let s = values(scores)?;
    let n = s.len();
    let corners: Vec<[f64; 4]> = (0..n)
        .map(|i| {
            let q = &b[4 * i..4 * i + 4];
            [
                q[0].min(q[2]),
                q[1].min(q[3]),
                q[0].max(q[2]),
                q[1].max(q[3]),
            ]
        })
        .collect();
    let area = |q: &[f64; 4]| (q[2] - q[0] + off) * (q[3] - q[1] + off);
    let mut order: Vec<usize> = (0..n).filter(|&i| s[i] > score_t).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
    let mut kept: Vec<usize> = vec![];
    for i in order {
        if kept.len() as f64 >= *max {
            break;
        }
        let suppressed = kept.iter().any(|&j| {
            let (p, q) = (&corners[i], &corners[j]);
            let h = (p[2].min(q[2]) - p[0].max(q[0]) + off).max(0.0);
            let w = (p[3].min(q[3]) - p[1].max(q[1]) + off).max(0.0);
            let inter = h * w;
            let union = area(p) + area(q) - inter;
            union > 0.0 && inter / union > iou_t
        });
        if !suppressed {
            kept.push(i);
        }
    }
    let kept: Vec<i32> = kept.into_iter().map(|i| i as i32).collect();
    Ok(vec![Tensor::from_slice(&kept)])
}

fn values(t: &Tensor) -> Result<Vec<f64>, String> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).map_err(torch_err)
}

/// The weights that average the bilinear samples of one ROI's bins along one axis: a
/// `[pooled, size]` matrix. Bin `p` takes `grid` samples at `start + p·bin + (i + ½)·bin/grid`;
/// a sample outside (-1, size) counts zero, one in (-1, 0] reads at 0, one past the last pixel
/// reads the last pixel (ROIAlign's bilinear rule). Each bin is the mean of its samples.
fn axis_weights(start: f64, len: f64, pooled: i64, grid: i64, size: i64) -> Vec<f64> {
    let mut w = vec![0.0; (pooled * size) as usize];
    let bin = len / pooled as f64;
    for p in 0..pooled {
        for i in 0..grid {
            let mut y = start + p as f64 * bin + (i as f64 + 0.5) * bin / grid as f64;
            if y < -1.0 || y > size as f64 {
                continue;
            }
            y = y.max(0.0);
            let mut lo = y.floor() as i64;
            let hi;
            if lo >= size - 1 {
                lo = size - 1;
                hi = size - 1;
                y = lo as f64;
            } else {
                hi = lo + 1;
            }
            let l = y - lo as f64;
            let row = (p * size) as usize;
            w[row + lo as usize] += (1.0 - l) / grid as f64;
            w[row + hi as usize] += l / grid as f64;
        }
    }
    w
}

/// ROIAlign: `y[k]` pools `features[rois[k, 0]]` over the box `rois[k, 1..5]` (x1, y1, x2, y2,
/// times `spatial_scale`) into `pooled_height × pooled_width` bins of `sample_num²` bilinear
/// samples each (0: `ceil(box size / pooled size)` per axis). `roi_end_mode` 2 shifts the box
/// by -½ pixel (torchvision's `aligned=True`); 0 keeps it and makes it at least 1×1
/// (`aligned=False`). The mean over a bin is separable, so each ROI is `Wy · F · Wxᵀ`.
fn roi_align(c: &KCtx) -> R {
    let x = c.input("features")?;
    rank4(x, "features")?;
    need_float(x, "features")?;
    let rois = c.input("rois")?;
    if rois.dim() != 2 || rois.size()[1] != 5 {
        return Err(format!(
            "rois is {:?}; ROIAlign takes [K, 5] (batch index, x1, y1, x2, y2)",
            rois.size()
        ));
    }
    let scale = c.float("spatial_scale")?;
    let (ph, pw) = (c.int("pooled_height")?, c.int("pooled_width")?);
    let sample = c.int("sample_num")?;
    let mode = c.int("roi_end_mode")?;
    if ph <= 0 || pw <= 0 || sample < 0 {
        return Err(format!(
            "pooled size {ph}x{pw} and sample_num {sample} must be positive (sample_num may be 0)"
        ));
    }
    let offset = match mode {
        2 => 0.5,
        0 => 0.0,
        m => {
            return Err(format!(
                "roi_end_mode {m} is not run by torch2air's runner (0: torchvision's aligned=False, 2: aligned=True)"
            ))
        }
    };
    let s = x.size();
    let (n, ch, h, w) = (s[0], s[1], s[2], s[3]);
    let r = values(rois)?;
    let mut outs = vec![];
    for k in 0..rois.size()[0] as usize {
        let b = r[k * 5];
        if b.fract() != 0.0 || b < 0.0 || b >= n as f64 {
            return Err(format!(
                "roi {k} names batch index {b}, but features has {n} images"
            ));
        }
        let [x1, y1, x2, y2] = [1, 2, 3, 4].map(|i| r[k * 5 + i] * scale - offset);
        let (mut rw, mut rh) = (x2 - x1, y2 - y1);
        if mode == 0 {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let gh = if sample > 0 {
            sample
        } else {
            (rh / ph as f64).ceil().max(1.0) as i64
        };
        let gw = if sample > 0 {
            sample
        } else {
            (rw / pw as f64).ceil().max(1.0) as i64
        };
        let wy = Tensor::from_slice(&axis_weights(y1, rh, ph, gh, h))
            .view([ph, h])
            .to_kind(x.kind());
        let wx = Tensor::from_slice(&axis_weights(x1, rw, pw, gw, w))
            .view([pw, w])
            .to_kind(x.kind());
        let f = x.get(b as i64); // [C, H, W]
        outs.push(wy.matmul(&f).matmul(&wx.tr()));
    }
    if outs.is_empty() {
        return Ok(vec![Tensor::zeros([0, ch, ph, pw], (x.kind(), x.device()))]);
    }
    Ok(vec![Tensor::stack(&outs, 0)])
}

/// DeformableConv2D (NCHW, modulated): a convolution whose every tap reads the input at its
/// regular position moved by a learned offset (bilinear, zero outside the image), times a mask.
/// `offsets` is `[N, 3·dg·kh·kw, Ho, Wo]`: every x offset, then every y offset, then the mask,
/// each ordered by deformable group, then kernel position (row-major).
fn deformable_conv2d(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    if c.string("data_format")? != "NCHW" {
        return Err("the runner takes DeformableConv2D in NCHW only".into());
    }
    if !c.bool("modulated")? {
        return Err("DeformableConv2D with modulated=false (v1 offsets) is not run; the prototype computes v2".into());
    }
    let wt = c.input("filter")?;
    rank4(wt, "filter")?;
    let off = c.input("offsets")?;
    rank4(off, "offsets")?;
    let four = |name: &str| -> Result<[i64; 4], String> {
        let v = c.ints(name)?;
        <[i64; 4]>::try_from(v.as_slice()).map_err(|_| format!("{name} {v:?} must have 4 entries"))
    };
    let [_, _, sh, sw] = four("strides")?;
    let [pt, pb, pl, pr] = four("pads")?;
    let [_, _, dh, dw] = four("dilations")?;
    let g = c.int("groups")?;
    let dg = c.int("deformable_groups")?;
    let s = x.size();
    let (n, ch, h, w) = (s[0], s[1], s[2], s[3]);
    let ws = wt.size();
    let (cout, cin_g, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    if sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || g <= 0 || dg <= 0 {
        return Err("strides, dilations, groups and deformable_groups must be positive".into());
    }
    if ch % dg != 0 || ch != cin_g * g || cout % g != 0 {
        return Err(format!(
            "x has {ch} channels, filter {ws:?}, groups {g}, deformable_groups {dg}: they do not fit"
        ));
    }
    let ho = (h + pt + pb - (dh * (kh - 1) + 1)) / sh + 1;
    let wo = (w + pl + pr - (dw * (kw - 1) + 1)) / sw + 1;
    let kk = kh * kw;
    if off.size() != [n, 3 * dg * kk, ho, wo] {
        return Err(format!(
            "offsets is {:?}; this convolution needs [{n}, {}, {ho}, {wo}]",
            off.size(),
            3 * dg * kk
        ));
    }
    let opts = (x.kind(), x.device());
    let parts = off.view([n, 3, dg, kk, ho, wo]);
    let (dx, dy, mask) = (parts.select(1, 0), parts.select(1, 1), parts.select(1, 2));
    // Regular tap positions: [kk, Ho, Wo] for y and x.
    let ki = Tensor::arange(kk, opts);
    let oy = Tensor::arange(ho, opts) * sh as f64 - pt as f64;
    let ox = Tensor::arange(wo, opts) * sw as f64 - pl as f64;
    let base_y = (ki.floor_divide_scalar(kw) * dh as f64).view([kk, 1, 1]) + oy.view([1, ho, 1]);
    let base_x = (ki.remainder(kw) * dw as f64).view([kk, 1, 1]) + ox.view([1, 1, wo]);
    let py = dy + base_y; // [N, dg, kk, Ho, Wo]
    let px = dx + base_x;
    let inside = py.gt(-1.0) * py.lt(h as f64) * px.gt(-1.0) * px.lt(w as f64);
    let (y0, x0) = (py.floor(), px.floor());
    let (ly, lx) = (&py - &y0, &px - &x0);
    let cg = ch / dg;
    let l = kk * ho * wo;
    let planes = x.view([n, dg, cg, h * w]);
    let mut cols = Tensor::zeros([n, dg, cg, l], opts);
    for (oy_, ox_, wgt) in [
        (0.0, 0.0, (1.0 - &ly) * (1.0 - &lx)),
        (0.0, 1.0, (1.0 - &ly) * &lx),
        (1.0, 0.0, &ly * (1.0 - &lx)),
        (1.0, 1.0, &ly * &lx),
    ] {
        let yc = &y0 + oy_;
        let xc = &x0 + ox_;
        let valid = yc.ge(0.0) * yc.le((h - 1) as f64) * xc.ge(0.0) * xc.le((w - 1) as f64);
        let idx = (yc.clamp(0.0, (h - 1) as f64) * w as f64 + xc.clamp(0.0, (w - 1) as f64))
            .to_kind(Kind::Int64)
            .view([n, dg, 1, l])
            .expand([n, dg, cg, l], false);
        let v = planes.gather(3, &idx, false);
        let k =
            (wgt * valid.to_kind(x.kind()) * inside.to_kind(x.kind()) * &mask).view([n, dg, 1, l]);
        cols += v * k;
    }
    // [N, C, kk, L'] → per weight group: [N, g, cin_g·kk, Ho·Wo].
    let cols = cols.view([n, g, cin_g * kk, ho * wo]);
    let wmat = wt.view([1, g, cout / g, cin_g * kk]);
    let mut y = wmat.matmul(&cols).view([n, cout, ho, wo]);
    if let Some(b) = c.opt("bias") {
        if b.size() != [cout] {
            return Err(format!("bias is {:?}; it must be [{cout}]", b.size()));
        }
        y += b.view([1, cout, 1, 1]);
    }
    Ok(vec![y])
}
