//! Virtual-time tests of the §17 machines and the layer.
