// im2col and col2im on the GPU: matches kernels.reference.conv.im2col / col2im.
//
// Compiled at run time by CuPy (NVRTC), so: no #include, no host-only names.
// Every kernel is a grid-stride loop over one flat index; all index arithmetic is
// `long long` so tensors with more than 2^31 elements still work.
// Each templated __device__ body is instantiated twice below as extern "C" kernels
// named <kernel>_f32 (float) and <kernel>_f64 (double), the names kernels/cuda/conv.py calls.

// ---------------------------------------------------------------------------------
// im2col: one thread per column entry.
//   x    : (N, C, H, W)
//   cols : (N, C*kh*kw, OH*OW)
//   cols[n, (c*kh + i)*kw + j, oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void im2col_body(const T* x, T* cols,
                            long long N, long long C, long long H, long long W,
                            long long kh, long long kw, long long sh, long long sw,
                            long long ph, long long pw, long long dh, long long dw,
                            long long OH, long long OW)
{
    long long total = N * C * kh * kw * OH * OW;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        // unravel idx over the C-order shape (N, C, kh, kw, OH, OW)
        long long ow = idx % OW;
        long long oh = (idx / OW) % OH;
        long long j = (idx / (OW * OH)) % kw;
        long long i = (idx / (OW * OH * kw)) % kh;
        long long c = (idx / (OW * OH * kw * kh)) % C;
        long long n = idx / (OW * OH * kw * kh * C);
        // padded coordinate oh*sh + i*dh is unpadded row h = oh*sh - ph + i*dh
        long long h = oh * sh - ph + i * dh;
        long long w = ow * sw - pw + j * dw;
        bool inside = (h >= 0) && (h < H) && (w >= 0) && (w < W);
        cols[idx] = inside ? x[((n * C + c) * H + h) * W + w] : (T)0;
    }
}

// ---------------------------------------------------------------------------------
// col2im: one thread per input pixel, a gather (no atomics, so the sum order is fixed
// and the result is deterministic).
//   cols : (N, C*kh*kw, OH*OW)  ->  x : (N, C, H, W)
//   x[n, c, h, w] = sum over taps (i, j) and windows (oh, ow) with
//                   oh*sh - ph + i*dh == h and ow*sw - pw + j*dw == w
//                   of cols[n, (c*kh + i)*kw + j, oh*OW + ow]
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void col2im_body(const T* cols, T* x,
                            long long N, long long C, long long H, long long W,
                            long long kh, long long kw, long long sh, long long sw,
                            long long ph, long long pw, long long dh, long long dw,
                            long long OH, long long OW)
{
    long long total = N * C * H * W;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long w = idx % W;
        long long h = (idx / W) % H;
        long long c = (idx / (W * H)) % C;
        long long n = idx / (W * H * C);
        T sum = (T)0;
        // taps in the reference's order: i ascending, then j ascending
        for (long long i = 0; i < kh; ++i) {
            long long row = h + ph - i * dh;          // row = oh*sh must hold for some window oh
            if (row < 0) break;                       // row only shrinks as i grows
            if (row % sh != 0) continue;
            long long oh = row / sh;
            if (oh >= OH) continue;
            for (long long j = 0; j < kw; ++j) {
                long long col = w + pw - j * dw;      // col = ow*sw for some window ow
                if (col < 0) break;
                if (col % sw != 0) continue;
                long long ow = col / sw;
                if (ow >= OW) continue;
                long long k = (c * kh + i) * kw + j;  // row of cols
                sum += cols[(n * C * kh * kw + k) * (OH * OW) + oh * OW + ow];
            }
        }
        x[idx] = sum;
    }
}

// ---------------------------------------------------------------------------------
// extern "C" instantiations: the names CuPy looks up.
// ---------------------------------------------------------------------------------
extern "C" __global__ void im2col_f32(const float* x, float* cols,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ im2col_body<float>(x, cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }

extern "C" __global__ void im2col_f64(const double* x, double* cols,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ im2col_body<double>(x, cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }

extern "C" __global__ void col2im_f32(const float* cols, float* x,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ col2im_body<float>(cols, x, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }

extern "C" __global__ void col2im_f64(const double* cols, double* x,
    long long N, long long C, long long H, long long W,
    long long kh, long long kw, long long sh, long long sw,
    long long ph, long long pw, long long dh, long long dw, long long OH, long long OW)
{ col2im_body<double>(cols, x, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW); }
