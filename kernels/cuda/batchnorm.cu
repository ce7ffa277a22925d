// Batch normalisation on the GPU: matches kernels.reference.norm (batchnorm_stats,
// batchnorm_forward, batchnorm_backward).
//
// Compiled at run time by CuPy (NVRTC), so: no #include, no host-only names.
// Layout: x (N, C, L); channel c holds the M = N*L numbers x[n, c, l] = x[(n*C + c)*L + l].
// The per-channel sums run in double for float inputs too (the reference does the same).
// Reductions: one block of BN_THREADS threads per channel (grid = C); each thread adds a
// strided share of the M numbers, then a tree in shared memory adds the BN_THREADS partial
// sums. The order is fixed, so results are deterministic.
// Each templated __device__ body is instantiated below as extern "C" <kernel>_f32 / _f64.

#define BN_THREADS 256   // kernels/cuda/norm.py launches the reductions with this block size

// Sum `value` over the threads of the block; every thread gets the total.
// Tree: partial[t] += partial[t + half] for half = 128, 64, ..., 1.
__device__ double block_sum(double value, double* partial)
{
    int t = threadIdx.x;
    partial[t] = value;
    __syncthreads();
    for (int half = BN_THREADS / 2; half > 0; half /= 2) {
        if (t < half) partial[t] += partial[t + half];
        __syncthreads();
    }
    double total = partial[0];
    __syncthreads();          // partial[] may be reused by the caller's next block_sum
    return total;
}

// ---------------------------------------------------------------------------------
// batchnorm_stats: one block per channel, two passes (mean, then squared deviations).
//   mean[c] = sum_m x / M,   var[c] = sum_m (x - mean[c])^2 / M   (biased)
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void batchnorm_stats_body(const T* x, T* mean_out, T* var_out,
                                     long long N, long long C, long long L)
{
    __shared__ double partial[BN_THREADS];
    long long c = blockIdx.x;
    long long M = N * L;
    double sum = 0.0;
    for (long long m = threadIdx.x; m < M; m += BN_THREADS) {
        long long n = m / L, l = m % L;
        sum += (double)x[(n * C + c) * L + l];
    }
    double mean = block_sum(sum, partial) / (double)M;
    double squares = 0.0;
    for (long long m = threadIdx.x; m < M; m += BN_THREADS) {
        long long n = m / L, l = m % L;
        double d = (double)x[(n * C + c) * L + l] - mean;
        squares += d * d;
    }
    double var = block_sum(squares, partial) / (double)M;
    if (threadIdx.x == 0) {
        mean_out[c] = (T)mean;
        var_out[c] = (T)var;
    }
}

// ---------------------------------------------------------------------------------
// batchnorm_forward: one thread per element.
//   y[n, c, l] = (x[n, c, l] - mean[c]) * invstd[c] * weight[c] + bias[c]
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void batchnorm_forward_body(const T* x, const T* mean, const T* invstd,
                                       const T* weight, const T* bias, T* y,
                                       long long N, long long C, long long L)
{
    long long total = N * C * L;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long c = (idx / L) % C;
        T xhat = (x[idx] - mean[c]) * invstd[c];
        y[idx] = xhat * weight[c] + bias[c];
    }
}

// ---------------------------------------------------------------------------------
// batchnorm_backward, step 1: one block per channel, the two sums (in double)
//   xhat = (x - mean[c]) * invstd[c]
//   sum_dy[c]      = sum_m grad_y            (= grad_bias)
//   sum_dy_xhat[c] = sum_m grad_y * xhat     (= grad_weight)
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void batchnorm_backward_reduce_body(const T* grad_y, const T* x, const T* mean,
                                               const T* invstd, double* sum_dy,
                                               double* sum_dy_xhat,
                                               long long N, long long C, long long L)
{
    __shared__ double partial[BN_THREADS];
    long long c = blockIdx.x;
    long long M = N * L;
    double mu = (double)mean[c];
    double inv = (double)invstd[c];
    double dy_total = 0.0, dy_xhat_total = 0.0;
    for (long long m = threadIdx.x; m < M; m += BN_THREADS) {
        long long i = ((m / L) * C + c) * L + m % L;    // flat index of x[n, c, l]
        double dy = (double)grad_y[i];
        double xhat = ((double)x[i] - mu) * inv;
        dy_total += dy;
        dy_xhat_total += dy * xhat;
    }
    double bias_grad = block_sum(dy_total, partial);
    double weight_grad = block_sum(dy_xhat_total, partial);
    if (threadIdx.x == 0) {
        sum_dy[c] = bias_grad;
        sum_dy_xhat[c] = weight_grad;
    }
}

// ---------------------------------------------------------------------------------
// batchnorm_backward, step 2: one thread per element (in double, then rounded to T)
//   grad_x = weight[c]*invstd[c]/M * (M*grad_y - sum_dy[c] - xhat*sum_dy_xhat[c])
// ---------------------------------------------------------------------------------
template <typename T>
__device__ void batchnorm_backward_input_body(const T* grad_y, const T* x, const T* mean,
                                              const T* invstd, const T* weight,
                                              const double* sum_dy, const double* sum_dy_xhat,
                                              T* grad_x, long long N, long long C, long long L)
{
    long long total = N * C * L;
    double M = (double)(N * L);
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        long long c = (idx / L) % C;
        double inv = (double)invstd[c];
        double xhat = ((double)x[idx] - (double)mean[c]) * inv;
        double scale = (double)weight[c] * inv / M;
        double g = scale * (M * (double)grad_y[idx] - sum_dy[c] - xhat * sum_dy_xhat[c]);
        grad_x[idx] = (T)g;
    }
}

// ---------------------------------------------------------------------------------
// extern "C" instantiations: the names CuPy looks up.
// ---------------------------------------------------------------------------------
extern "C" __global__ void batchnorm_stats_f32(const float* x, float* mean_out, float* var_out,
    long long N, long long C, long long L)
{ batchnorm_stats_body<float>(x, mean_out, var_out, N, C, L); }

extern "C" __global__ void batchnorm_stats_f64(const double* x, double* mean_out, double* var_out,
    long long N, long long C, long long L)
{ batchnorm_stats_body<double>(x, mean_out, var_out, N, C, L); }

extern "C" __global__ void batchnorm_forward_f32(const float* x, const float* mean,
    const float* invstd, const float* weight, const float* bias, float* y,
    long long N, long long C, long long L)
{ batchnorm_forward_body<float>(x, mean, invstd, weight, bias, y, N, C, L); }

extern "C" __global__ void batchnorm_forward_f64(const double* x, const double* mean,
    const double* invstd, const double* weight, const double* bias, double* y,
    long long N, long long C, long long L)
{ batchnorm_forward_body<double>(x, mean, invstd, weight, bias, y, N, C, L); }

extern "C" __global__ void batchnorm_backward_reduce_f32(const float* grad_y, const float* x,
    const float* mean, const float* invstd, double* sum_dy, double* sum_dy_xhat,
    long long N, long long C, long long L)
{ batchnorm_backward_reduce_body<float>(grad_y, x, mean, invstd, sum_dy, sum_dy_xhat, N, C, L); }

extern "C" __global__ void batchnorm_backward_reduce_f64(const double* grad_y, const double* x,
    const double* mean, const double* invstd, double* sum_dy, double* sum_dy_xhat,
    long long N, long long C, long long L)
{ batchnorm_backward_reduce_body<double>(grad_y, x, mean, invstd, sum_dy, sum_dy_xhat, N, C, L); }

extern "C" __global__ void batchnorm_backward_input_f32(const float* grad_y, const float* x,
    const float* mean, const float* invstd, const float* weight,
    const double* sum_dy, const double* sum_dy_xhat, float* grad_x,
    long long N, long long C, long long L)
{ batchnorm_backward_input_body<float>(grad_y, x, mean, invstd, weight, sum_dy, sum_dy_xhat,
                                       grad_x, N, C, L); }

extern "C" __global__ void batchnorm_backward_input_f64(const double* grad_y, const double* x,
    const double* mean, const double* invstd, const double* weight,
    const double* sum_dy, const double* sum_dy_xhat, double* grad_x,
    long long N, long long C, long long L)
{ batchnorm_backward_input_body<double>(grad_y, x, mean, invstd, weight, sum_dy, sum_dy_xhat,
                                        grad_x, N, C, L); }
