"""Hints in three steps for every graded item, and ``genlab.hint`` that hands them out.

Level 1 is the idea (which quantity, and why), level 2 the maths and the shapes, level 3
the structure of the code in words. No level names a library call or shows code: the
point is that the student still writes every line. ``tests/unit/test_hints.py`` checks
that every graded item has three levels and that the stubs in ``labs/`` stay code-free.
"""

from __future__ import annotations

from ..errors import GenlabError

LEVELS = 3


class UnknownNameError(GenlabError, KeyError):
    """An item, lab or question that does not exist; the message lists those that do."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class _Ladders(dict):
    """The hint ladders: the items' (written below) and, from the first lookup on, the challenges'.

    A challenge's ladder is built from its entry, which lives in its lab module, and the lab
    modules import this one to give their items their ladders; so the challenges' ladders
    cannot be added while this module loads (a lab imported first would be half-built) and are
    added on the first lookup instead. The items' own ladders are read with :func:`item_ladder`.
    """

    _complete = False

    def _fill(self) -> None:
        if type(self)._complete:
            return
        type(self)._complete = True  # before the imports: a lookup they make must not recurse
        try:
            from .challenges import challenge_hints

            dict.update(self, challenge_hints())
        except BaseException:
            type(self)._complete = False
            raise

    def __getitem__(self, key):
        self._fill()
        return dict.__getitem__(self, key)

    def __contains__(self, key) -> bool:
        self._fill()
        return dict.__contains__(self, key)

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def get(self, key, default=None):
        self._fill()
        return dict.get(self, key, default)

    def keys(self):
        self._fill()
        return dict.keys(self)

    def items(self):
        self._fill()
        return dict.items(self)

    def values(self):
        self._fill()
        return dict.values(self)


#: item -> (the idea, the maths and shapes, the code's structure in words); ``challenge_NN``
#: ladders join on the first lookup.
HINTS: dict[str, tuple[str, str, str]] = _Ladders({
    # ------------------------------------------------------------------ lab 00 (warm-up, not graded)
    "to_course_format": (
        "The course's images are floats in [0, 1] with a channel dimension; raw photos are bytes "
        "from 0 to 255 without one. Converting means adding the channel axis and rescaling.",
        "(N, H, W) uint8 in 0..255 -> (N, 1, H, W) float32 in [0, 1]: x = pixel / 255, with the "
        "new axis in position 1.",
        "Insert a channel axis of size one after the batch axis, convert the integers to 32-bit "
        "floats (before dividing, so nothing is rounded), and divide by 255.",
    ),
    "missing_fraction": (
        "A mask is 1 where a pixel is missing, so the mean of an image's mask is the fraction of "
        "its pixels that are missing.",
        "(N, 1, H, W) of 0/1 -> (N,): the mean over C, H and W of each image, not over the batch.",
        "Flatten each image's mask into one row, convert it to floats, and average each row.",
    ),
    # ------------------------------------------------------------------ lab 01
    "ConvEncoder": (
        "An encoder compresses each image into a short code. Convolutions see local patterns "
        "wherever they are; strided convolutions shrink the map, so after a few of them a "
        "small fully connected layer can turn what is left into the code.",
        "A convolution with kernel 4, stride 2 and padding 1 maps a side of n to n / 2: "
        "16 -> 8 -> 4. With 64 channels at 4 x 4 each image holds 64 * 4 * 4 = 1024 numbers, "
        "which a linear layer maps to latent_dim. Shapes: (B, 1, 16, 16) -> (B, c1, 8, 8) -> "
        "(B, c2, 4, 4) -> (B, 1024) -> (B, latent_dim). The code is a plain linear output: "
        "signed and unbounded.",
        "In the constructor, build one sequential container: a strided convolution from 1 "
        "channel, a ReLU, a second strided convolution, a ReLU, a layer that flattens all but "
        "the batch dimension, and a linear layer to latent_dim with nothing after it. Store it "
        "as an attribute. The forward pass only applies that container to its input.",
    ),
    "ConvDecoder": (
        "The decoder undoes the encoder: from a code back to an image. It outputs logits "
        "(any real number per pixel), not probabilities: the loss applies the sigmoid itself, "
        "in a form that stays accurate when a pixel is almost surely 0 or 1.",
        "A linear layer maps latent_dim to 64 * 4 * 4 numbers, which are seen as a (B, 64, 4, 4) "
        "map. A transposed convolution with kernel 4, stride 2, padding 1 doubles the side: "
        "4 -> 8 -> 16. The last layer has one output channel and no activation: (B, 1, 16, 16).",
        "In the constructor, build one sequential container: a linear layer from latent_dim, a "
        "ReLU, a layer that reshapes each flat vector into a 64-channel 4 x 4 map, a transposed "
        "convolution to fewer channels, a ReLU, and a final transposed convolution to one channel. "
        "The forward pass applies that container and returns its output untouched.",
    ),
    "add_noise": (
        "A denoising autoencoder learns from pairs (noisy image, clean image). The noise is "
        "Gaussian, independent for every pixel, new on every call; the noisy image must still "
        "be an image, with values in [0, 1].",
        "x~ = clamp(x + sigma * eps, 0, 1) with eps ~ N(0, I) of the full shape of x. sigma is "
        "the standard deviation, not the variance. The result has x's shape, device and dtype, "
        "and x itself is left as it was.",
        "Draw standard normal noise shaped like x (same device and dtype, from the global "
        "random stream, no reseeding), scale it by sigma, add it to x to make a new tensor, and "
        "clip that new tensor to the interval from 0 to 1. Return it; never write into x.",
    ),
    "interpolate_codes": (
        "Decoding points on the straight segment between two codes shows whether the latent space "
        "is smooth: nearby codes should give similar images. The walk starts at one code and ends "
        "at the other, with equal steps.",
        "Row i is (1 - t_i) z0 + t_i z1 with t_i = i / (n - 1), for i = 0 ... n - 1, so t_0 = 0 "
        "and t_(n-1) = 1. Shapes: t is (n, 1), the codes (d,), and broadcasting gives (n, d).",
        "Make n evenly spaced fractions from zero to one, in the codes' dtype and on their device, "
        "as a column. Weight the first code by one minus each fraction and the second by the "
        "fraction, and add them; broadcasting forms the rows. Never write into the codes.",
    ),
    # ------------------------------------------------------------------ lab 02
    "reparameterize": (
        "Sampling z from N(mu, sigma^2) has no gradient with respect to mu and sigma. Write the "
        "sample instead as a deterministic function of mu, sigma and noise that does not depend "
        "on them: then gradients flow through mu and sigma.",
        "z = mu + sigma * eps, sigma = exp(logvar / 2), eps ~ N(0, I). mu, logvar, eps and z are "
        "all (B, d): one independent draw per coordinate of every example. dz/dmu = 1 and "
        "dz/dlogvar = (z - mu) / 2.",
        "Turn the log-variance into a standard deviation with the exponential of half of it. "
        "Draw fresh standard normal noise with the shape, device and dtype of mu. Return the "
        "mean plus the standard deviation times the noise, all as tensor arithmetic so autograd "
        "sees every step.",
    ),
    "kl_divergence": (
        "The KL term measures how far each example's posterior q(z|x) is from the prior N(0, I). "
        "For two Gaussians it has a closed form, so no sampling is needed. It is one number per "
        "example and never negative.",
        "KL = 1/2 * sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2), with sigma_j^2 = exp(logvar_j) "
        "and log sigma_j^2 = logvar_j exactly (no log of an exponential). Inputs (B, d), output "
        "(B,): sum over the latent dimension only.",
        "Form the bracket elementwise from logvar's exponential, mu squared, the constant one "
        "and logvar itself; reduce it by summing over the latent dimension (the last one), "
        "keeping the batch dimension; halve the result.",
    ),
    "elbo_loss": (
        "The loss is minus the ELBO: how badly the decoder explains the image (a Bernoulli "
        "log-likelihood per pixel) plus how far the code's posterior is from the prior, per "
        "image, then averaged over the batch so it does not depend on the batch size.",
        "L = (1/B) sum_b [ sum_i BCE(l_bi, x_bi) + KL_b ]. BCE on logits: "
        "softplus(l) - x * l, finite for any logit. x and x_logits are (B, C, H, W); the "
        "reconstruction term is summed over C, H, W to (B,); KL is (B,); the result is 0-D.",
        "Compute the binary cross-entropy of the raw logits against x per pixel, without any "
        "reduction and without a sigmoid first. Sum it over every dimension except the batch to "
        "get one number per image. Add your KL per image. Average over the batch and return "
        "that scalar tensor.",
    ),
    "iwae_bound": (
        "The ELBO averages the log of one importance weight; the IWAE bound takes the log of the "
        "average of K weights. By Jensen's inequality that is still a lower bound on log p(x), "
        "and it tightens as K grows. The weights themselves are far too small to store.",
        "With log-weights w_1 ... w_K of one image, the bound is log((1/K) sum_k exp(w_k)) = "
        "m + log(sum_k exp(w_k - m)) - log K for any m; choosing m = max_k w_k keeps every "
        "exponent at most 0 and one of them exactly 0. Shapes: (B, K) -> (B,); K = 1 gives w_1.",
        "For each row, find the largest log-weight, subtract it from the row, exponentiate, add "
        "up along the sample axis, take the log, add the largest log-weight back and subtract "
        "the log of the number of samples. A built-in stable log of a sum of exponentials along "
        "the sample axis does the first five steps at once. Keep everything as tensors in the "
        "input's dtype so gradients reach the log-weights.",
    ),
    # ------------------------------------------------------------------ lab 03
    "discriminator_loss": (
        "D is a classifier: real samples are class 1, generated ones class 0. Its loss is the "
        "binary cross-entropy of that classification, computed from logits so it stays finite "
        "when D is very sure.",
        "L_D = -(1/N) sum_i log sigma(l_real_i) - (1/M) sum_j log(1 - sigma(l_fake_j)). "
        "With -log sigma(l) = softplus(-l) and -log(1 - sigma(l)) = softplus(l). Inputs (N,) "
        "and (M,), possibly N != M: two separate batch means, added; output 0-D.",
        "Take the binary cross-entropy on logits of the real logits against a target of ones "
        "(averaged over the real batch), the same for the fake logits against zeros (averaged "
        "over the fake batch), and return their sum. Build the targets with the shape, device "
        "and dtype of each logit tensor.",
    ),
    "generator_loss": (
        "G wants D to call its samples real. The minimax form minimises log(1 - D(G(z))), whose "
        "gradient vanishes when D rejects the fakes confidently; the non-saturating form "
        "maximises log D(G(z)) instead and keeps a strong gradient there.",
        "Saturating: (1/M) sum_j log(1 - sigma(l_j)) = -(1/M) sum_j softplus(l_j), a negative "
        "number. Non-saturating: -(1/M) sum_j log sigma(l_j) = (1/M) sum_j softplus(-l_j). "
        "Input (M,) logits; output 0-D. Both must stay finite at logits of +-100.",
        "Branch on the flag. For the non-saturating form, return the binary cross-entropy on "
        "logits of the fake logits against a target of ones. For the saturating form, return "
        "minus the binary cross-entropy on logits against a target of zeros. Never take the log "
        "of a sigmoid you computed yourself.",
    ),
    "optimal_discriminator": (
        "For a fixed generator, the best D at a point x is the probability that x came from the "
        "data rather than from G, given that both are equally likely a priori.",
        "D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise, for inputs of any (equal) shape. "
        "Where p_g = p_data it is 1/2; where p_g = 0 it is 1.",
        "Divide the data density by the sum of the two densities, elementwise, and return the "
        "result with the inputs' shape.",
    ),
    "js_divergence": (
        "The Jensen-Shannon divergence compares two distributions through their half-and-half "
        "mixture, so it is symmetric, always finite, zero only when they agree, and largest when "
        "they share no outcome. It is the divergence the GAN game measures at the optimal D.",
        "With m = (p + q) / 2, JS = KL(p || m) / 2 + KL(q || m) / 2, and KL(p || m) = sum_k p_k "
        "log(p_k / m_k) in nats. A term with p_k = 0 is 0 (the limit of t log t). Disjoint "
        "supports give log 2. Shapes: (..., K) and (..., K) -> (...), the sum over the last axis.",
        "Build the mixture from the two inputs. For each input, add up over the outcomes its "
        "probability times the log of its ratio to the mixture, using a form of p times log "
        "that is defined as zero where the probability is zero. Average the two sums. Keep the "
        "inputs' dtype and never leave the autograd graph.",
    ),
    # ------------------------------------------------------------------ lab 04
    "Generator": (
        "The DCGAN generator treats the noise vector as a 1 x 1 image with z_dim channels and "
        "grows it with transposed convolutions, normalising and rectifying in between, until it "
        "is a 16 x 16 image with values in [0, 1].",
        "(B, z_dim) seen as (B, z_dim, 1, 1); a kernel-4 transposed convolution without stride "
        "gives 4 x 4; kernel 4, stride 2, padding 1 doubles: 4 -> 8 -> 16. Channels z_dim -> 2w "
        "-> w -> 1. BatchNorm and ReLU after the first two; a sigmoid at the very end.",
        "In the constructor, build one sequential container following the table: three "
        "transposed convolutions, the first two each followed by batch normalisation and a ReLU "
        "(those two need no bias). The forward pass reshapes the codes to the 1 x 1 image shape, "
        "applies the container and squashes the result between 0 and 1 with the logistic function.",
    ),
    "Discriminator": (
        "The DCGAN discriminator is an image classifier that shrinks a 16 x 16 image to one "
        "number per image: a logit, real if positive. Leaky ReLUs keep a gradient for negative "
        "inputs, which matters when G learns through D.",
        "Kernel 4, stride 2, padding 1 halves the side: 16 -> 8 -> 4; a final kernel-4 "
        "convolution without padding takes 4 x 4 to 1 x 1. Channels 1 -> w -> 2w -> 1. "
        "Output (B, 1, 1, 1) flattened to (B,). No sigmoid: BCE with logits does it.",
        "In the constructor, build one sequential container: a strided convolution with a leaky "
        "ReLU of slope 0.2 (no batch normalisation on this first layer), a strided convolution "
        "with batch normalisation and a leaky ReLU, and a last convolution to one channel. The "
        "forward pass applies it and reshapes the result to one value per image.",
    ),
    "gan_training_step": (
        "One GAN step is two updates in turn. D learns to tell real from fake while G is held "
        "fixed; then G learns to fool the updated D. D's step must not reach G's parameters, "
        "G's step must go through D.",
        "L_D = BCE(D(real), 1) + BCE(D(fake), 0) with the fakes cut from G's graph; "
        "L_G = BCE(D(fake), 1) (non-saturating) with the fakes still attached to G. Each BCE is "
        "a batch mean over (B,) logits. Return both losses as Python floats.",
        "Generate one batch of fakes from z. D's update: score the real images and a detached "
        "copy of the fakes, form D's loss, clear D's gradients, backpropagate, step D's optimiser. "
        "G's update: score the attached fakes again with the updated D, form G's loss, clear G's "
        "gradients, backpropagate, step G's optimiser. Return a dictionary with the two loss "
        "values as plain numbers.",
    ),
    "hinge_discriminator_loss": (
        "The hinge loss asks the discriminator only for a margin: a real image should score at "
        "least +1 and a fake at most -1; beyond the margin an image costs nothing, so D stops "
        "pushing confident answers further and spends its capacity on the hard ones.",
        "L_D = mean over the real batch of max(0, 1 - D(x)) + mean over the fake batch of "
        "max(0, 1 + D(G(z))). Inputs are (B,) logits, the two batches may differ in size; the "
        "output is 0-D. A logit of +30 on a real image costs 0, a logit of -30 costs 31.",
        "For the real logits, take one minus each logit and keep only its positive part; average "
        "over that batch. Do the same for the fake logits with one plus each logit. Return the "
        "sum of the two averages, computed in the logits' dtype and still attached to the graph.",
    ),
    "hinge_generator_loss": (
        "With the hinge discriminator, the generator simply wants its fakes to score as high as "
        "possible: no margin and no logarithm, so its gradient never vanishes.",
        "L_G = - mean over the batch of D(G(z)), with (B,) logits in and a 0-D value out. Its "
        "gradient with respect to each logit is -1 / B whatever the logit.",
        "Average the fake logits over the batch and return the negative of that average, in the "
        "logits' dtype and still attached to the graph.",
    ),
    # ------------------------------------------------------------------ lab 05
    "block_mask": (
        "Training a repairer needs holes to fill: one square hole per image, at a random place "
        "that is different for every image and never sticks out of the image. Every random "
        "number comes from the generator you are given, so a seeded generator gives the same "
        "masks.",
        "Output (B, 1, S, S), float, 1 = missing, exactly hole^2 ones per image. The top-left "
        "corner (r, c) is uniform over 0 .. S - hole in each direction (S - hole + 1 values). "
        "Pixel (i, j) is in the hole when r <= i < r + hole and c <= j < c + hole.",
        "Draw the two corner coordinates of every image at once, as integers in the legal range, "
        "from the given generator. Compare a row index range and a column index range with each "
        "image's corner to get, per image, which rows and which columns are inside; combine the "
        "two with a logical and, broadcast to a square; convert to float and add the channel "
        "dimension.",
    ),
    "apply_mask": (
        "The corrupted input keeps every known pixel and replaces the hole with a constant, so "
        "the network cannot see what was there.",
        "x~ = x * (1 - m) + fill * m, with x (B, C, H, W) and m (B, 1, H, W) broadcast over "
        "channels. Output shaped like x; x unchanged.",
        "Multiply the images by one minus the mask, add the fill value times the mask, and "
        "return the new tensor; never modify the input.",
    ),
    "masked_mse": (
        "The known pixels are given, so only the hole tells how well the model repairs. The "
        "loss is the mean squared error over the hole pixels of the whole batch, each channel "
        "of a hole pixel counting once.",
        "L = sum(m * (x^ - x)^2) / sum(m), both sums over n, c, h, w with m expanded from "
        "(B, 1, H, W) to (B, C, H, W). A batch without holes gives 0, not NaN. Output 0-D.",
        "Broadcast the mask to the images' full shape. Sum the squared differences weighted by "
        "that expanded mask; count the hole entries by summing the expanded mask; divide, with "
        "the count kept at least one so an empty hole gives zero.",
    ),
    "composite": (
        "Whatever the network predicts outside the hole is worse than the pixels you already "
        "have: keep the known pixels, take only the hole from the prediction.",
        "out = m * x^ + (1 - m) * x, the mask broadcast over channels. Where m = 1 the output is "
        "the prediction, where m = 0 it is exactly the original.",
        "Return a weighted sum of the prediction and the original, with the mask as the "
        "prediction's weight and one minus the mask as the original's.",
    ),
    "masked_l1_plus_edges": (
        "A loss for inpainting says how bad a fill is. Whatever you add to the plain hole error "
        "(here: that the fill's edges continue the image's edges), the known pixels must not "
        "count, a perfect fill must cost nothing, and the value must not grow with the size of "
        "the image or the batch.",
        "Let d be the error of the composite (prediction in the hole, original elsewhere): zero "
        "outside the hole. An L1 term is the sum of |d| over the hole; an edge term compares "
        "neighbouring differences of d along the width and along the height. Divide both by the "
        "number of hole entries (at least one). Output 0-D, in the inputs' dtype.",
        "Broadcast the mask to the images' shape in their dtype. Build the composite and its "
        "error against the original. Sum the absolute error, and the absolute differences of "
        "that error between horizontal neighbours and between vertical neighbours; add the two "
        "with a weight of your choice and divide by the count of hole entries, kept at least one.",
    ),
    # ------------------------------------------------------------------ lab 06
    "rows_to_sequences": (
        "A recurrent layer reads sequences. To sweep along rows, every row of every image "
        "becomes one sequence whose steps are the pixels of the row, each step carrying the "
        "channels of that pixel.",
        "(B, C, H, W) -> (B*H, W, C) with seq[b*H + r, j] = feat[b, :, r, j]. A plain reshape "
        "of (B, C, H, W) to that shape mixes channels and pixels: first move the channel axis "
        "to the end, (B, H, W, C), then merge B and H.",
        "Read the four sizes from the input. Reorder the axes so channels come last, keeping "
        "batch, row and column in that order. Then merge the batch and row axes into one, which "
        "needs a reshape that copies when the reordered tensor is not contiguous.",
    ),
    "sequences_to_rows": (
        "After the recurrent layer you want a feature map again: undo the previous function, "
        "with however many features per step the recurrent layer produced.",
        "(B*H, W, C) -> (B, H, W, C) -> (B, C, H, W). C is read from the sequences (a "
        "bidirectional GRU gives 2 * hidden), B and H are given.",
        "Read the length and the number of features from the input's shape. Split the first "
        "axis into batch and height, then reorder the axes to put the features second.",
    ),
    "cols_to_sequences": (
        "The column sweep needs one sequence per column of the feature map, read from top to "
        "bottom, so that a recurrence carries information up and down the image.",
        "(B, C, H, W) -> (B*W, H, C) with seq[b*W + j, r] = feat[b, :, r, j]: the batch and the "
        "column axis merge into the sequences' batch, the row axis is the length, the channels "
        "the features. Compare with the rows: the roles of H and W are exchanged.",
        "Read the four sizes from the input. Reorder the axes so that batch, column, row and "
        "channel come in that order, then merge the first two into one; use the operation that "
        "copies when the reordered tensor is not contiguous, and keep the input's dtype.",
    ),
    "sequences_to_cols": (
        "After the column recurrence you want a feature map again: undo the column reading, "
        "with however many features per step the recurrence produced.",
        "(B*W, H, C) -> (B, W, H, C) -> (B, C, H, W). C and H are read from the sequences, B and "
        "W are given. Check it by a round trip: from a map to columns and back gives the map.",
        "Read the length and the number of features from the input's shape. Split the first "
        "axis into batch and width, then reorder the axes so the features come second, the "
        "rows third and the columns last.",
    ),
    "CRNN": (
        "Convolutions see a small neighbourhood; a bidirectional recurrence along every row "
        "and then every column lets each position see its whole row and column, so a hole can "
        "be filled from far away. Residual additions keep the convolutional features where "
        "the recurrence adds nothing.",
        "[x_masked, mask] (B, C+1, H, W) -> encoder (B, 2w, H/2, W/2) -> rows: (B*H/2, W/2, 2w) "
        "-> GRU (., ., 2k) -> projection 2k -> 2w -> back to a map, added. Columns: the same on "
        "the map with H and W swapped, swapped back, added. Decoder -> logits (B, C, H, W) -> "
        "sigmoid -> composite with the known pixels.",
        "Stack the masked image and the mask along channels and encode. For the row sweep, turn "
        "the map into row sequences, run the row GRU (keep its output, not its hidden state), "
        "project, turn back into a map and add it to the features. For the column sweep, swap "
        "the two spatial axes, do the same with the column GRU and projection, swap back and "
        "add. Decode, apply the logistic function, and keep the known pixels from the input.",
    ),
    # ------------------------------------------------------------------ lab 07
    "autocast_settings": (
        "Mixed precision computes the forward pass in 16 bits. Which 16-bit format, and whether "
        "the loss must be scaled, depends on the device: bfloat16 has float32's range, float16 "
        "does not and loses small gradients unless they are scaled up.",
        "Return (enabled, dtype, use_scaler): CUDA with bf16 support -> (True, bfloat16, False); "
        "CUDA without -> (True, float16, True); CPU -> (True, bfloat16, False); any other device "
        "-> (True, float16, False). bf16 support is asked of CUDA only when the argument is None.",
        "Normalise the argument into a device object first (it may be a string). Branch on the "
        "device's type: for CUDA, resolve the bf16 flag if it is missing and pick between the "
        "two CUDA answers; for the CPU return its answer; for everything else the last one.",
    ),
    "train_epoch": (
        "One epoch is the heart of every training loop: for every batch, forward, loss, "
        "backward, step, on whatever device is asked, with or without mixed precision, and a "
        "correct average of the loss at the end.",
        "Mean loss per image = sum_b loss_b * n_b / sum_b n_b (batches may differ in size). "
        "The forward pass runs under autocast with the dtype the previous exercise gives; the "
        "loss is cross-entropy computed in float32. With a scaler the backward pass uses the "
        "scaled loss and the scaler steps the optimiser.",
        "Move the model to the device and switch it to training mode. For every batch: move "
        "inputs and labels to the device, run the model inside the autocast context, compute "
        "the loss in float32, zero the gradients, then either the scaler's backward, step and "
        "update, or the plain backward and step. Accumulate the loss times the batch size and "
        "the count of images; return their ratio as a Python float.",
    ),
    "train_epoch_accumulate": (
        "When a big batch does not fit in memory, run it in k smaller pieces and add up their "
        "gradients before one optimiser step. Done right, the step is the one the big batch "
        "would have taken.",
        "A group of micro-batches with sizes n_1 .. n_k holds N = n_1 + ... + n_k images. The "
        "gradient of the mean loss over the N images is the sum over micro-batches of (n_i / N) "
        "times the gradient of micro-batch i's mean loss. Gradients add up across backward "
        "passes until they are cleared; the last group may have fewer than k micro-batches.",
        "Go through the micro-batches in groups of k. For each group, clear the gradients once, "
        "count its images, run each micro-batch forward and backward with its loss weighted by "
        "its share of the group's images, keep a running total for the epoch's mean loss, and "
        "take one optimiser step at the end of the group.",
    ),
    "save_checkpoint": (
        "A checkpoint must hold everything needed to continue exactly, and a crash while "
        "writing must never destroy the previous one. Writing a file is not atomic; renaming "
        "one onto another within a folder is.",
        "The file holds a dictionary with the keys model, optimizer, scaler (None without one), "
        "epoch and rng (the torch generator state), only tensors and plain Python values, so "
        "the safe loader can read it back.",
        "Build the dictionary of state. Choose a temporary file name in the same folder as the "
        "target. Inside a try block, save the dictionary to the temporary file and then rename "
        "it over the target; in a finally block, delete the temporary file if it still exists.",
    ),
    "load_checkpoint": (
        "Loading is the mirror of saving, and it must be safe: a checkpoint file from elsewhere "
        "must not be able to run code when it is read, so only plain data may be unpickled.",
        "Read the dictionary onto the CPU with the loader restricted to weights only (never the "
        "unrestricted mode, not even as a fallback). Restore model, optimizer, scaler (only when "
        "both the argument and the stored state exist) and the torch RNG state; return epoch as "
        "an int.",
        "Load the file safely, mapped to the CPU. Hand each stored state dictionary to the "
        "matching object's state loader, the scaler only when both exist. Restore the random "
        "number generator's state from the stored one. Return the stored epoch converted to an "
        "integer.",
    ),
    # ------------------------------------------------------------------ lab 09
    "fixed_generator_output": (
        "The flat output has C * size * size numbers per sample. The broken version assumes one "
        "channel, so with colour images it silently turns one sample into several.",
        "(B, C*S*S) -> (B, C, S, S): the batch size must not change. Let the batch dimension be "
        "inferred only if every other dimension is the right one.",
        "Reshape the flat tensor to four dimensions: the batch dimension as it is, then the "
        "number of channels you were given, then the side twice.",
    ),
    "fixed_discriminator_loss": (
        "A discriminator learns real versus fake. If fakes are labelled real too, both terms "
        "push D towards calling everything real, and it learns nothing about the generator.",
        "L_D = BCE(l_real, 1) + BCE(l_fake, 0), each a batch mean over its own logits.",
        "Keep the structure of the broken function; change the target of the fake term so the "
        "fakes are the class zero.",
    ),
    "fixed_kl_divergence": (
        "A divergence is never negative. With the sign flipped, minimising the loss maximises "
        "the KL and the posterior runs away from the prior.",
        "KL = 1/2 * sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j) per example: (B, d) -> (B,). "
        "Check it at mu = 0, logvar = 0: it must be exactly 0, and positive everywhere else.",
        "Keep the elementwise bracket and the sum over the latent dimension; fix the overall "
        "sign (and any term with the wrong sign) so the value is the formula above.",
    ),
    "fixed_row_rnn": (
        "A GRU with batch_first reads 3-D sequences (N, L, F). A feature map is 4-D; to run "
        "along rows, every row becomes one sequence, and the output must become a map again.",
        "(B, C, H, W) -> (B*H, W, C) -> GRU -> (B*H, W, 2k) -> (B, 2k, H, W). Channels go last "
        "before merging B and H; a plain reshape has the right shape and the wrong content.",
        "Move the channels last, merge batch and rows into one axis, run the recurrent layer "
        "and keep its output sequence, split the first axis back into batch and rows, and move "
        "the features to the channel position.",
    ),
    "fixed_bce_loss": (
        "BCE-with-logits applies the sigmoid itself. Applying one first squashes every logit "
        "into (0, 1), so the loss can never be small and its gradient nearly vanishes.",
        "loss = mean over elements of softplus(l) - t * l, on the raw logits l; finite for any "
        "logit.",
        "Keep the broken function's loss call and feed it the raw logits, with no squashing "
        "before it.",
    ),
    "fixed_discriminator_update": (
        "Backpropagating D's loss into the fakes also fills the generator's gradients, which a "
        "later G step would then use (or accumulate). D's step must leave G untouched.",
        "L_D = BCE(D(real), 1) + BCE(D(fake), 0) with the fakes cut from G's graph; after the "
        "call every parameter of G has no gradient. Targets on the logits' device and dtype.",
        "Generate the fakes, cut them from the generator's graph before D scores them, build "
        "the targets like the logits, then zero D's gradients, backpropagate and step D as "
        "before; return the detached loss.",
    ),
    "fixed_predict": (
        "Dropout and batch norm behave differently in training and evaluation. Predictions for "
        "evaluation need evaluation mode, and the model must be left in the mode it was in.",
        "In evaluation mode dropout is the identity and batch norm uses its running statistics, "
        "so the same input gives the same output every time; the running statistics must not "
        "change.",
        "Remember whether the model was training. Switch it to evaluation mode, compute the "
        "predictions without building a graph, and restore the previous mode even if the "
        "forward pass fails.",
    ),
    "fixed_ema_copy": (
        "Assigning a model to a second name creates no second model: both names point at the "
        "same parameters, so the average would just be the model itself.",
        "The copy must have equal values but distinct storage: changing one network's "
        "parameters leaves the other's as they were. The copy is frozen; the original still "
        "trains.",
        "Make a deep copy of the model, then switch off gradient tracking for every parameter "
        "of the copy only, and return the copy.",
    ),
    "fixed_discriminator_batch": (
        "The discriminator learns by comparing two kinds of images: samples of the data, which it "
        "must call real, and the generator's samples, which it must call fake. If both halves come "
        "from the generator there is nothing to tell apart.",
        "For n real and m generated images the batch holds n + m images, the n data images first, "
        "with n labels of 1 followed by m labels of 0, all in the data's floating type.",
        "Stack the real images and then the generated ones along the batch axis, build a label "
        "vector of ones for as many real images and zeros for as many fakes, and return both.",
    ),
    "fixed_training_batch": (
        "A model learns the distribution of whatever it is shown. Fed random values it learns "
        "random values: the training data must come from the training set.",
        "From N stored images of shape (C, H, W), pick batch_size of them at random, fresh on every "
        "call, and return them as (batch_size, C, H, W) with the stored dtype.",
        "Draw batch_size random positions between 0 and N from the global random stream, and "
        "select the images at those positions from the stored tensor.",
    ),
    "fixed_gan_losses": (
        "A GAN is a game between two players with opposite aims. If both minimise one number, "
        "the generator ends up helping the discriminator. Each needs its own objective (and its "
        "own optimiser holding only its own parameters).",
        "With D's scores as logits: the discriminator's loss is the binary cross-entropy of real "
        "scores against 1 plus fake scores against 0; the generator's non-saturating loss is the "
        "cross-entropy of the fake scores against 1. In softplus form both stay finite for any score.",
        "Compute the discriminator's loss from both score vectors, compute the generator's loss "
        "from the fake scores alone, with the target that says real, each as a batch mean, and "
        "return the pair in that order.",
    ),
    "fixed_image_decoder": (
        "A linear head that produces images must produce exactly as many numbers as an image "
        "holds. A width copied from another script (784 is a 28 by 28 gray image) fits no other "
        "image size, and a reshape with an inferred batch size hides the mismatch.",
        "An image of C channels, H rows and W columns holds C * H * W numbers, so the head maps "
        "(B, latent) to (B, C * H * W), which is then viewed as (B, C, H, W) with the batch size "
        "written out, never inferred.",
        "Build one linear layer from the code's width to channels times height times width, on "
        "the code's device and type, apply it to the codes, and reshape keeping the batch axis "
        "as it is.",
    ),
    "fixed_log_prob_real": (
        "A discriminator without a final sigmoid outputs scores, not probabilities: they can be "
        "negative, and the log of a negative number is not defined. The log-probability has to "
        "be computed from the score directly.",
        "log D(x) = log sigmoid(s) = -log(1 + exp(-s)) = -softplus(-s). For s = -120 the "
        "probability is about 1e-52, below the smallest float32, but the log is simply about -120, "
        "with a gradient of about 1.",
        "Use the library's numerically stable log-sigmoid, or the negated softplus of the negated "
        "score; never take the sigmoid first and the log afterwards.",
    ),
    "dead_units": (
        "A unit of a ReLU layer that outputs zero for every input gets no gradient and never "
        "recovers: the network has lost it. A debugger measures this on a batch by watching each "
        "activation layer's output during one forward pass, without training and without leaving "
        "any trace on the model.",
        "An activation's output has the batch first and the units second: (B, F) after a linear "
        "layer, (B, C, H, W) after a convolution, where a unit is a channel. A unit is alive if its "
        "output is above 0 for at least one example and one position; the layer's entry is the "
        "number of units that are not alive divided by F (or C), a number in [0, 1]. A LeakyReLU "
        "outputs a negative value instead of 0, so ask for > 0, not != 0.",
        "Walk over all the model's modules with their full names, nested ones included, and keep "
        "the ReLU and LeakyReLU ones. Give each a forward hook that records, per unit, whether it "
        "fired anywhere in the batch, and keep the hook handles. Remember the model's mode, switch "
        "to evaluation mode, run the batch once with gradient tracking off, and in a finally block "
        "remove your handles (only yours) and restore the mode. Turn each record into the share of "
        "silent units as a plain number. Leave the parameters, their gradients and the batch alone.",
    ),
})

def _unknown(item: object) -> UnknownNameError:
    import difflib

    close = difflib.get_close_matches(str(item), items(), n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(f"no hints for {item!r}.{guess} Items with hints: {', '.join(items())}.")


# Which level each item gets next in this kernel: item -> last level shown.
_shown: dict[str, int] = {}


def items() -> list[str]:
    """Every item that has hints, sorted."""
    return sorted(HINTS)


def hint_text(item: str, level: int) -> str:
    """The hint of ``item`` at ``level`` (1, 2 or 3), with its heading; raises for unknown items."""
    if item not in HINTS:
        raise _unknown(item)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= LEVELS:
        raise ValueError(f"hint level must be 1, 2 or 3, got {level!r}.")
    names = {1: "the idea", 2: "the maths and the shapes", 3: "the structure of the code"}
    text = f"Hint {level} of {LEVELS} for {item} ({names[level]}):\n{HINTS[item][level - 1]}"
    if level < LEVELS:
        text += f'\n\nCall genlab.hint("{item}") again for hint {level + 1} of {LEVELS}.'
    else:
        text += f'\n\nThat was the last hint. genlab.hint("{item}", level=1) shows the first again.'
    return text


def hint(item: str, level: int | None = None) -> None:
    """Print the next hint for ``item`` (1, then 2, then 3), or the ``level`` asked for.

    Args:
        item: the graded function or class, e.g. ``"kl_divergence"``.
        level: 1 (the idea), 2 (the maths and the shapes) or 3 (the code's structure in
            words); ``None`` gives the level after the last one shown for this item.

    Raises:
        KeyError: ``item`` has no hints (the message lists the items that do).
        ValueError: ``level`` is not 1, 2 or 3.
    """
    if not isinstance(item, str) or item not in HINTS:
        raise _unknown(item)
    if level is None:
        level = min(_shown.get(item, 0) + 1, LEVELS)
    text = hint_text(item, level)
    _shown[item] = max(_shown.get(item, 0), level)
    print(text)


def item_ladder(item: str) -> tuple[str, str, str]:
    """The ladder of a graded item (not a challenge), without building the challenges' ladders.

    What :func:`genlab.exercises._core.build_lab` reads while a lab module is loading.
    """
    return dict.__getitem__(HINTS, item)
