#pragma once
// The mesh's metric families: its HTTP/2 connections and the pool, summed
// over the workers' meshes when read.
#include <vector>

#include "base/metric_registry.h"

namespace ugate {

class Mesh;

// The meshes must outlive the registry's readers (the gate owns both).
void register_mesh_metrics(MetricRegistry& registry, std::vector<Mesh*> meshes);

}  // namespace ugate
