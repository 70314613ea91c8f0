// The GPU's memory bandwidth as a generated token sees it: device-to-device copies of a buffer
// much larger than the L2 cache, timed with CUDA events. Prints GB/s of reads plus writes.
#include <cstdio>
#include <cuda_runtime.h>

int main()
{
    const size_t bytes = 2ull << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
        fprintf(stderr, "gpu_membw: cudaMalloc failed\n");
        return 1;
    }
    cudaMemset(a, 1, bytes);
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); // warm-up
    const int reps = 20;
    cudaEventRecord(t0);
    for (int i = 0; i < reps; i++)
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(t1);
    cudaEventSynchronize(t1);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    printf("%.1f\n", 2.0 * bytes * reps / (ms / 1000.0) / 1e9);
    return 0;
}
