// Persistent worker threads for the native FFI calls (native_step.cc, native_render.cc).
//
// Each call used to start std::threads for its helpers and join them: on the 2-core VM a control step of 8
// environments (about 0.8 ms of mj_step) gained only 1.2-1.3x from a second thread, since starting and
// scheduling a fresh thread costs about as much as the work it takes over. Here the helpers live for the
// process: a call publishes its job, the helpers pick it up while they still spin from the last one (a
// compiled evaluation loop calls again within tens of microseconds) or wake from a condition variable, and
// the caller runs slice 0 itself. A forked child (Ray, multiprocessing) has none of its parent's threads:
// the pool notices the new process id and starts its own.

#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace glam {

class WorkerPool {
 public:
  // Runs slice(j) for j in [0, k): slice 0 on the calling thread, the others on the pool's helpers. One
  // call at a time (a second caller waits).
  static void Run(int64_t k, const std::function<void(int64_t)>& slice) {
    if (k <= 1) {
      slice(0);
      return;
    }
    WorkerPool& pool = Get();
    std::lock_guard<std::mutex> one_call(pool.call_);
    pool.Grow(k - 1);
    {
      std::lock_guard<std::mutex> lock(pool.mutex_);
      pool.job_ = &slice;
      pool.slices_ = k;
      pool.remaining_.store(k - 1, std::memory_order_relaxed);
      pool.generation_.fetch_add(1, std::memory_order_release);
    }
    pool.wake_.notify_all();
    slice(0);
    // spin briefly for the helpers' slices (about as long as ours), then sleep until the last one is done
    for (int spin = 0; pool.remaining_.load(std::memory_order_acquire) > 0; ++spin) {
      if (spin > kSpins) {
        std::unique_lock<std::mutex> lock(pool.mutex_);
        pool.done_.wait(lock, [&] { return pool.remaining_.load(std::memory_order_acquire) == 0; });
        break;
      }
    }
  }

 private:
  static constexpr int kSpins = 20000;                        // ~tens of microseconds of polling
  static constexpr auto kIdleSpin = std::chrono::microseconds(200);   // a helper polls this long, then sleeps

  static WorkerPool& Get() {
    static std::mutex create;
    static WorkerPool* pool = nullptr;
    std::lock_guard<std::mutex> lock(create);
    if (pool == nullptr || pool->pid_ != getpid()) pool = new WorkerPool();   // never freed: helpers outlive exit
    return *pool;
  }

  void Grow(int64_t helpers) {
    while (helpers_ < helpers) {
      const int64_t index = ++helpers_;                        // slice 0 is the caller's
      // the generation before this call's job: a helper that starts late still takes the job
      const uint64_t before = generation_.load(std::memory_order_acquire);
      std::thread([this, index, before] { Serve(index, before); }).detach();
    }
  }

  void Serve(int64_t index, uint64_t seen) {
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kIdleSpin;
      uint64_t now;
      while ((now = generation_.load(std::memory_order_acquire)) == seen &&
             std::chrono::steady_clock::now() < until) {
      }
      const std::function<void(int64_t)>* job;
      int64_t slices;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (now == seen) wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        // the generation, job and slice count together: Run sets all three under this lock
        seen = generation_.load(std::memory_order_acquire);
        job = job_;
        slices = slices_;
      }
      if (index < slices) {
        (*job)(index);
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lock(mutex_);
          done_.notify_all();
        }
      }
    }
  }

  const pid_t pid_ = getpid();
  std::mutex call_;                         // one Run at a time
  std::mutex mutex_;                        // guards job_ and slices_, and the sleeps
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};     // bumped once per Run: helpers start on a change
  std::atomic<int64_t> remaining_{0};       // helper slices not yet finished
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t slices_ = 0;
  int64_t helpers_ = 0;                     // helper threads started (detached: they live as long as the process)
};

}  // namespace glam
