// Max pooling and max unpooling on the GPU: matches kernels.reference.pool
// (maxpool2d_forward, maxpool2d_backward, maxunpool2d, maxunpool2d_backward).
//
// Compiled at run time by CuPy (NVRTC), so: no #include, no host-only names.
// Every kernel is a grid-stride loop over one flat index, with `long long` arithmetic.
// Index arrays are int64 (`long long`): the flat position h*W + w inside one (H, W) plane.
// Each templated __device__ body is instantiated below as extern "C" <kernel>_f32 / _f64.

// -inf without <math.h>: the IEEE-754 bit patterns, reinterpreted.
template <typename T> __device__ T negative_infinity();
template <> __device__ float negative_infinity<float>() { return __int_as_float(0xff800000); }
template <> __device__ double negative_infinity<double>() { return __longlong_as_double(0xfff0000000000000LL); }

// ---------------------------------------------------------------------------------
// maxpool2d forward: one thread per output element.
//   x (N, C, H, W) -> out, indices (N, C, OH, OW)
//   out[n, c, oh, ow] = max over i < kh, j < kw of x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//   (positions outside the input are padding and never chosen)
//   ties: the first maximum in scan order (i, then j) wins; a NaN wins over any number,
//   and the first NaN is kept.
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void maxpool2d_forward_body(const T* x, T* out, long long* indices,
                                       long long N, long long C, long long H, long long W,
                                       long long kh, long long kw, long long sh, long long sw,
                                       long long ph, long long pw, long long dh, long long dw,
                                       long long OH, long long OW)
{
    long long total = N * C * OH * OW;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long ow = idx % OW;
        long long oh = (idx / OW) % OH;
        long long plane = idx / (OW * OH);            // plane = n*C + c
        const T* x_plane = x + plane * H * W;
        T best = negative_infinity<T>();
        long long best_index = -1;                    // stays -1 if no window position is inside the input
        bool found = false;
        for (long long i = 0; i < kh; ++i) {
            long long h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (long long j = 0; j < kw; ++j) {
                long long w = ow * sw - pw + j * dw;
                if (w < 0 || w >= W) continue;
                T v = x_plane[h * W + w];
                // take v if it is the first candidate, strictly larger, or the first NaN
                bool take = !found || v > best || (isnan(v) && !isnan(best));
                if (take) {
                    best = v;
                    best_index = h * W + w;
                    found = true;
                }
            }
        }
        out[idx] = best;
        indices[idx] = best_index;
    }
}

// ---------------------------------------------------------------------------------
// maxpool2d backward: one thread per grad_out element, a scatter-add.
//   grad_x.plane[indices[n, c, oh, ow]] += grad_out[n, c, oh, ow]
//   Overlapping windows may pick the same pixel, so the add is atomic (atomicAdd on
//   double needs compute capability >= 6.0). grad_x must be zero-filled by the caller.
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void maxpool2d_backward_body(const T* grad_out, const long long* indices, T* grad_x,
                                        long long planes, long long out_hw, long long in_hw)
{
    long long total = planes * out_hw;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long plane = idx / out_hw;
        long long target = indices[idx];
        if (target < 0 || target >= in_hw) continue;  // a window with no input pixel
        atomicAdd(grad_x + plane * in_hw + target, grad_out[idx]);
    }
}

// ---------------------------------------------------------------------------------
// maxunpool2d: one thread per input element, "bed of nails".
//   x, indices (N, C, h, w) -> out (N, C, OH, OW) zero-filled by the caller,
//   out.plane[indices[n, c, i, j]] = x[n, c, i, j]
//   (with repeated indices one of the writes wins, as in PyTorch; the caller has
//   validated 0 <= indices < OH*OW, the bounds test is only a guard)
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void maxunpool2d_body(const T* x, const long long* indices, T* out,
                                 long long planes, long long in_hw, long long out_hw)
{
    long long total = planes * in_hw;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long plane = idx / in_hw;
        long long target = indices[idx];
        if (target < 0 || target >= out_hw) continue;
        out[plane * out_hw + target] = x[idx];
    }
}

// ---------------------------------------------------------------------------------
// maxunpool2d backward: one thread per grad_x element, a gather.
//   grad_x[n, c, i, j] = grad_out.plane[indices[n, c, i, j]]
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void maxunpool2d_backward_body(const T* grad_out, const long long* indices, T* grad_x,
                                          long long planes, long long in_hw, long long out_hw)
{
    long long total = planes * in_hw;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long plane = idx / in_hw;
        long long target = indices[idx];
        bool valid = target >= 0 && target < out_hw;
        grad_x[idx] = valid ? grad_out[plane * out_hw + target] : (T)0;
    }
}

// ---------------------------------------------------------------------------------
// extern "C" instantiations: the names CuPy looks up.
// ---------------------------------------------------------------------------------
extern "C" __global__ void maxpool2d_forward_f32(const float* x, float* out, long long* indices,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ maxpool2d_forward_body<float>(x, out, indices, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }

extern "C" __global__ void maxpool2d_forward_f64(const double* x, double* out, long long* indices,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ maxpool2d_forward_body<double>(x, out, indices, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }

extern "C" __global__ void maxpool2d_backward_f32(const float* grad_out, const long long* indices,
    float* grad_x, long long planes, long long out_hw, long long in_hw)
{ maxpool2d_backward_body<float>(grad_out, indices, grad_x, planes, out_hw, in_hw); }

extern "C" __global__ void maxpool2d_backward_f64(const double* grad_out, const long long* indices,
    double* grad_x, long long planes, long long out_hw, long long in_hw)
{ maxpool2d_backward_body<double>(grad_out, indices, grad_x, planes, out_hw, in_hw); }

extern "C" __global__ void maxunpool2d_f32(const float* x, const long long* indices,
    float* out, long long planes, long long in_hw, long long out_hw)
{ maxunpool2d_body<float>(x, indices, out, planes, in_hw, out_hw); }

extern "C" __global__ void maxunpool2d_f64(const double* x, const long long* indices,
    double* out, long long planes, long long in_hw, long long out_hw)
{ maxunpool2d_body<double>(x, indices, out, planes, in_hw, out_hw); }

extern "C" __global__ void maxunpool2d_backward_f32(const float* grad_out, const long long* indices,
    float* grad_x, long long planes, long long in_hw, long long out_hw)
{ maxunpool2d_backward_body<float>(grad_out, indices, grad_x, planes, in_hw, out_hw); }

extern "C" __global__ void maxunpool2d_backward_f64(const double* grad_out, const long long* indices,
    double* grad_x, long long planes, long long in_hw, long long out_hw)
{ maxunpool2d_backward_body<double>(grad_out, indices, grad_x, planes, in_hw, out_hw); }
