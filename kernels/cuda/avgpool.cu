// Average pooling on the GPU: matches kernels.reference.pool (avgpool2d_forward,
// avgpool2d_backward), PyTorch's divisor rule included.
//
// Compiled at run time by CuPy (NVRTC), so: no #include, no host-only names.
// Every kernel is a grid-stride loop over one flat index, with `long long` arithmetic.
// Each templated __device__ body is instantiated below as extern "C" <kernel>_f32 / _f64.

// ---------------------------------------------------------------------------------
// The divisor of output position (oh, ow), PyTorch's rule:
//   divisor_override > 0               -> divisor_override
//   window rows [oh*sh - ph, oh*sh - ph + kh), clipped to the padded input [-ph, H + ph)
//   (ceil_mode's last window may stick out past it); count_include_pad -> (rows)*(cols)
//   of that window, else also clipped to the real input [0, H) x [0, W).
// The callers guarantee padding <= kernel/2, so the count is never 0.
// ---------------------------------------------------------------------------------
__device__ long long avgpool_divisor(long long oh, long long ow,
                                     long long H, long long W, long long kh, long long kw,
                                     long long sh, long long sw, long long ph, long long pw,
                                     long long count_include_pad, long long divisor_override)
{
    if (divisor_override > 0) return divisor_override;
    long long h0 = oh * sh - ph;
    long long w0 = ow * sw - pw;
    long long h1 = min(h0 + kh, H + ph);
    long long w1 = min(w0 + kw, W + pw);
    if (!count_include_pad) {
        h0 = max(h0, 0LL);
        w0 = max(w0, 0LL);
        h1 = min(h1, H);
        w1 = min(w1, W);
    }
    return (h1 - h0) * (w1 - w0);
}

// ---------------------------------------------------------------------------------
// avgpool2d forward: one thread per output element.
//   x (N, C, H, W) -> out (N, C, OH, OW)
//   out[n, c, oh, ow] = (sum over i < kh, j < kw of xpad[n, c, oh*sh + i, ow*sw + j]) / divisor
//   Padding adds 0, so only the pixels inside the input are summed, in the reference's
//   order (i, then j), in the input's precision.
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void avgpool2d_forward_body(const T* x, T* out,
                                       long long N, long long C, long long H, long long W,
                                       long long kh, long long kw, long long sh, long long sw,
                                       long long ph, long long pw, long long OH, long long OW,
                                       long long count_include_pad, long long divisor_override)
{
    long long total = N * C * OH * OW;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long ow = idx % OW;
        long long oh = (idx / OW) % OH;
        long long plane = idx / (OW * OH);            // plane = n*C + c
        const T* x_plane = x + plane * H * W;
        T sum = (T)0;
        for (long long i = 0; i < kh; ++i) {
            long long h = oh * sh - ph + i;
            if (h < 0 || h >= H) continue;
            for (long long j = 0; j < kw; ++j) {
                long long w = ow * sw - pw + j;
                if (w < 0 || w >= W) continue;
                sum += x_plane[h * W + w];
            }
        }
        long long divisor = avgpool_divisor(oh, ow, H, W, kh, kw, sh, sw, ph, pw,
                                            count_include_pad, divisor_override);
        out[idx] = sum / (T)divisor;
    }
}

// ---------------------------------------------------------------------------------
// avgpool2d backward: one thread per input pixel, a gather (no atomics, deterministic).
//   grad_out (N, C, OH, OW) -> grad_x (N, C, H, W)
//   grad_x[n, c, h, w] = sum over windows (oh, ow) that contain (h, w) of
//                        grad_out[n, c, oh, ow] / divisor(oh, ow)
//   Window oh contains row h when h = oh*sh - ph + i for a tap 0 <= i < kh.
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void avgpool2d_backward_body(const T* grad_out, T* grad_x,
                                        long long N, long long C, long long H, long long W,
                                        long long kh, long long kw, long long sh, long long sw,
                                        long long ph, long long pw, long long OH, long long OW,
                                        long long count_include_pad, long long divisor_override)
{
    long long total = N * C * H * W;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long w = idx % W;
        long long h = (idx / W) % H;
        long long plane = idx / (W * H);
        const T* g_plane = grad_out + plane * OH * OW;
        T sum = (T)0;
        // taps in the reference's order: i ascending, then j ascending
        for (long long i = 0; i < kh; ++i) {
            long long row = h + ph - i;               // row = oh*sh for the window oh using tap i
            if (row < 0) break;                       // row only shrinks as i grows
            if (row % sh != 0) continue;
            long long oh = row / sh;
            if (oh >= OH) continue;
            for (long long j = 0; j < kw; ++j) {
                long long col = w + pw - j;           // col = ow*sw
                if (col < 0) break;
                if (col % sw != 0) continue;
                long long ow = col / sw;
                if (ow >= OW) continue;
                long long divisor = avgpool_divisor(oh, ow, H, W, kh, kw, sh, sw, ph, pw,
                                                    count_include_pad, divisor_override);
                sum += g_plane[oh * OW + ow] / (T)divisor;
            }
        }
        grad_x[idx] = sum;
    }
}

// ---------------------------------------------------------------------------------
// extern "C" instantiations: the names CuPy looks up.
// count_include_pad is 0 or 1; divisor_override is 0 for "None".
// ---------------------------------------------------------------------------------
extern "C" __global__ void avgpool2d_forward_f32(const float* x, float* out,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long OH, long long OW,
    long long count_include_pad, long long divisor_override)
{ avgpool2d_forward_body<float>(x, out, N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW,
                                count_include_pad, divisor_override); }

extern "C" __global__ void avgpool2d_forward_f64(const double* x, double* out,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long OH, long long OW,
    long long count_include_pad, long long divisor_override)
{ avgpool2d_forward_body<double>(x, out, N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW,
                                 count_include_pad, divisor_override); }

extern "C" __global__ void avgpool2d_backward_f32(const float* grad_out, float* grad_x,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long OH, long long OW,
    long long count_include_pad, long long divisor_override)
{ avgpool2d_backward_body<float>(grad_out, grad_x, N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW,
                                 count_include_pad, divisor_override); }

extern "C" __global__ void avgpool2d_backward_f64(const double* grad_out, double* grad_x,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long OH, long long OW,
    long long count_include_pad, long long divisor_override)
{ avgpool2d_backward_body<double>(grad_out, grad_x, N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW,
                                  count_include_pad, divisor_override); }
