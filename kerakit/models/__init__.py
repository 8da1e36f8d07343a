"""`keras.Model` subclasses that carry their own training logic (VAE, GAN, diffusion, distillation)."""
